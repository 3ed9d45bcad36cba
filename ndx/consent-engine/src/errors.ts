import { NdxError } from '@ndx/service-kit';

/** No consent with that id. */
export class ConsentNotFoundError extends NdxError {
  constructor(id: string) {
    super('CONSENT_NOT_FOUND', `no consent ${id}`, 404);
  }
}

/** The consent's current status does not allow this change (e.g. approving a revoked consent). */
export class InvalidTransitionError extends NdxError {
  constructor(id: string, from: string, to: string) {
    super('CONSENT_INVALID_TRANSITION', `consent ${id} is ${from}; it cannot become ${to}`, 409, {
      status: from,
      requested: to,
    });
  }
}

/** The request or consent lapsed before the change (it is now EXPIRED). */
export class ConsentExpiredError extends NdxError {
  constructor(id: string) {
    super('CONSENT_EXPIRED', `consent ${id} has expired`, 409, { status: 'EXPIRED' });
  }
}

/** The signed-in citizen is not the data subject of this consent. */
export class NotDataSubjectError extends NdxError {
  constructor() {
    super('NOT_DATA_SUBJECT', 'this consent belongs to another citizen', 403);
  }
}

export class UnknownConsumerError extends NdxError {
  constructor(consumerId: string) {
    super('UNKNOWN_CONSUMER', `consumer ${consumerId} is not registered with the Consent Engine`, 400);
  }
}

export class ConsumerDisabledError extends NdxError {
  constructor(consumerId: string) {
    super('CONSUMER_DISABLED', `consumer ${consumerId} is disabled: it may ask for no new consent`, 403);
  }
}

export class UnknownPurposeError extends NdxError {
  constructor(purpose: string) {
    super('UNKNOWN_PURPOSE', `purpose ${purpose} is not registered with the Consent Engine`, 400);
  }
}

/** The redirect_uri is not one the consumer registered; it is never followed. */
export class UnregisteredRedirectError extends NdxError {
  constructor(redirectUri: string) {
    super('REDIRECT_URI_NOT_REGISTERED', `redirect_uri ${redirectUri} is not registered for this app`, 400);
  }
}

/** A form arrived without the session's CSRF token. */
export class CsrfTokenError extends NdxError {
  constructor() {
    super(
      'CSRF_TOKEN_INVALID',
      'the form is missing its security token or it does not match; reload the page',
      403,
    );
  }
}

/** A valid token, but of a caller that may not use this API (another client, or a citizen on a service route). */
export class ClientNotAllowedError extends NdxError {
  constructor(who: string) {
    super('CLIENT_NOT_ALLOWED', `${who} may not use this API`, 403);
  }
}
