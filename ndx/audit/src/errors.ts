import { NdxError } from '@ndx/service-kit';

/**
 * The audit log could not be written (database unreachable, timeout, writer closed or
 * overloaded). The caller must not release data: fail closed.
 */
export class AuditUnavailableError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('AUDIT_UNAVAILABLE', message, 503, details);
  }
}

/** The record handed to `append` is not a valid audit record (a bug in the caller). */
export class AuditRecordInvalidError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('AUDIT_RECORD_INVALID', message, 500, details);
  }
}
