/** Base of every error a caller can act on: a stable `code` to branch on and the HTTP status it maps to. */
export class NdxError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, httpStatus: number, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = httpStatus;
    this.details = details;
  }
}

export class ConfigError extends NdxError {
  constructor(message: string) {
    super('CONFIG_INVALID', message, 500);
  }
}

export class BadRequestError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('BAD_REQUEST', message, 400, details);
  }
}

export class UnauthenticatedError extends NdxError {
  constructor(message = 'authentication required') {
    super('UNAUTHENTICATED', message, 401);
  }
}

export class ForbiddenError extends NdxError {
  constructor(message = 'forbidden') {
    super('FORBIDDEN', message, 403);
  }
}

export class NotFoundError extends NdxError {
  constructor(message = 'not found') {
    super('NOT_FOUND', message, 404);
  }
}

export class ConflictError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFLICT', message, 409, details);
  }
}

/** An upstream service could not be reached, timed out, or its breaker is open. */
export class UpstreamUnavailableError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('UPSTREAM_UNAVAILABLE', message, 503, details);
  }
}

/** An upstream service answered, but with an error status or a body we cannot use. */
export class UpstreamError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('UPSTREAM_ERROR', message, 502, details);
  }
}
