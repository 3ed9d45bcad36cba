import { createHash, timingSafeEqual } from 'node:crypto';
import { SOAP11_NS } from './envelope.ts';

/** OASIS WS-Security 1.0 namespaces (the UsernameToken Profile 1.0 and 1.1 use these two). */
export const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const PASSWORD_DIGEST =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
const BASE64_BINARY =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

/** Bounds on a nonce's decoded length: a short one could repeat by chance, a long one only costs storage. */
const NONCE_BYTES = { min: 16, max: 64 } as const;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const XSD_DATE_TIME_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Why a request was refused, as WS-Security 1.1 (§12) names the fault: `InvalidSecurity` for a
 * missing or unusable Security header, `FailedAuthentication` for a token that does not authenticate.
 */
export type WssFailure =
  | {
      faultCode: 'wsse:InvalidSecurity';
      errorCode: 'AUTHENTICATION_REQUIRED' | 'INVALID_SECURITY_HEADER';
      message: string;
    }
  | {
      faultCode: 'wsse:FailedAuthentication';
      errorCode: 'AUTHENTICATION_FAILED' | 'CREATED_OUT_OF_WINDOW' | 'NONCE_REPLAYED';
      message: string;
    };

/** Remembers nonces: `remember` is false when the nonce was already seen and has not expired. */
export interface NonceStore {
  remember(nonce: string, expiresAt: Date, now: Date): Promise<boolean>;
}

export interface UsernameTokenPolicy {
  username: string;
  password: string;
  /** A Created older than this is refused (and its nonce need not be remembered longer). */
  maxAgeMs: number;
  /** A Created later than now by more than this is refused. */
  clockSkewMs: number;
  nonces: NonceStore;
  now?: () => Date;
}

/** The UsernameToken of a request, as sent. */
interface UsernameToken {
  username: string;
  digest: Buffer;
  nonce: Buffer;
  nonceText: string;
  created: string;
  createdAt: number;
}

const invalid = (message: string): WssFailure => ({
  faultCode: 'wsse:InvalidSecurity',
  errorCode: 'INVALID_SECURITY_HEADER',
  message,
});

/** Base64(SHA-1(nonce + created + password)): the PasswordDigest of the UsernameToken Profile. */
function passwordDigest(nonce: Buffer, created: string, password: string): Buffer {
  return createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest();
}

function childElements(parent: Element, ns: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    const element = node as Element;
    if (node.nodeType === 1 && element.namespaceURI === ns && element.localName === localName) {
      found.push(element);
    }
  }
  return found;
}

/** The one child element called ns:localName; a missing or repeated one is an InvalidSecurity failure. */
function single(parent: Element, ns: string, localName: string, label: string): Element | WssFailure {
  const found = childElements(parent, ns, localName);
  if (found.length === 1) return found[0]!;
  return invalid(
    found.length === 0 ? `the UsernameToken has no ${label}` : `the UsernameToken has more than one ${label}`,
  );
}

const isFailure = (value: unknown): value is WssFailure =>
  typeof value === 'object' && value !== null && 'faultCode' in value;

/** Reads the one wsse:Security/wsse:UsernameToken of the envelope's header. */
function readUsernameToken(envelope: Element): UsernameToken | WssFailure {
  const securityHeaders = childElements(envelope, SOAP11_NS, 'Header').flatMap((header) =>
    childElements(header, WSSE_NS, 'Security'),
  );
  if (securityHeaders.length === 0) {
    return {
      faultCode: 'wsse:InvalidSecurity',
      errorCode: 'AUTHENTICATION_REQUIRED',
      message: 'a wsse:Security header with a UsernameToken (PasswordDigest) is required',
    };
  }
  if (securityHeaders.length > 1) return invalid('the request has more than one wsse:Security header');
  const token = single(securityHeaders[0]!, WSSE_NS, 'UsernameToken', 'wsse:UsernameToken');
  if (isFailure(token)) return token;
  const username = single(token, WSSE_NS, 'Username', 'wsse:Username');
  const password = single(token, WSSE_NS, 'Password', 'wsse:Password');
  const nonce = single(token, WSSE_NS, 'Nonce', 'wsse:Nonce');
  const created = single(token, WSU_NS, 'Created', 'wsu:Created');
  for (const part of [username, password, nonce, created]) if (isFailure(part)) return part;
  return parseTokenParts(username as Element, password as Element, nonce as Element, created as Element);
}

function parseTokenParts(
  username: Element,
  password: Element,
  nonce: Element,
  created: Element,
): UsernameToken | WssFailure {
  if (password.getAttribute('Type') !== PASSWORD_DIGEST) {
    return invalid('only a PasswordDigest password is accepted (a plain-text password is refused)');
  }
  const encoding = nonce.getAttribute('EncodingType');
  if (encoding && encoding !== BASE64_BINARY) return invalid('the wsse:Nonce must be Base64Binary');
  const text = (element: Element) => (element.textContent ?? '').trim();
  const digestText = text(password);
  const nonceText = text(nonce);
  const createdText = text(created);
  if (!BASE64.test(digestText) || Buffer.from(digestText, 'base64').length !== 20) {
    return invalid('the password digest is not a base64 SHA-1 digest');
  }
  const nonceBytes = BASE64.test(nonceText) ? Buffer.from(nonceText, 'base64') : Buffer.alloc(0);
  if (nonceBytes.length < NONCE_BYTES.min || nonceBytes.length > NONCE_BYTES.max) {
    return invalid(`the wsse:Nonce must be base64 of ${NONCE_BYTES.min} to ${NONCE_BYTES.max} random bytes`);
  }
  const createdAt = XSD_DATE_TIME_WITH_ZONE.test(createdText) ? Date.parse(createdText) : Number.NaN;
  if (Number.isNaN(createdAt)) return invalid('wsu:Created is not an xsd:dateTime with a time zone');
  return {
    username: text(username),
    digest: Buffer.from(digestText, 'base64'),
    nonce: nonceBytes,
    nonceText: nonceBytes.toString('base64'),
    created: createdText,
    createdAt,
  };
}

function sameText(a: string, b: string): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest();
  const right = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(left, right);
}

/**
 * The WS-Security UsernameToken check of every SOAP request (UsernameToken Profile 1.1, PasswordDigest):
 * a Created within [now - maxAge, now + skew], the digest of nonce + Created + the shared password, and
 * a nonce not seen before in that window (remembered only once the digest matched, so a caller
 * without the password cannot fill the store). Resolves with the failure, or undefined when authenticated.
 */
export function usernameTokenCheck(
  policy: UsernameTokenPolicy,
): (envelope: Element) => Promise<WssFailure | undefined> {
  const now = policy.now ?? (() => new Date());
  return async (envelope) => {
    const token = readUsernameToken(envelope);
    if (isFailure(token)) return token;
    const at = now();
    if (
      token.createdAt < at.getTime() - policy.maxAgeMs ||
      token.createdAt > at.getTime() + policy.clockSkewMs
    ) {
      return {
        faultCode: 'wsse:FailedAuthentication',
        errorCode: 'CREATED_OUT_OF_WINDOW',
        message: `wsu:Created must be within the last ${Math.round(policy.maxAgeMs / 1000)} s (allowing ${Math.round(policy.clockSkewMs / 1000)} s of clock skew)`,
      };
    }
    const expected = passwordDigest(token.nonce, token.created, policy.password);
    const digestMatches = timingSafeEqual(expected, token.digest);
    if (!(sameText(token.username, policy.username) && digestMatches)) {
      return {
        faultCode: 'wsse:FailedAuthentication',
        errorCode: 'AUTHENTICATION_FAILED',
        message: 'the security token could not be authenticated (unknown username or wrong password)',
      };
    }
    // Kept until no message with this Created could be accepted any more.
    const expiresAt = new Date(token.createdAt + policy.maxAgeMs);
    if (!(await policy.nonces.remember(token.nonceText, expiresAt, at))) {
      return {
        faultCode: 'wsse:FailedAuthentication',
        errorCode: 'NONCE_REPLAYED',
        message: 'this wsse:Nonce was already used: a replayed message is refused',
      };
    }
    return undefined;
  };
}
