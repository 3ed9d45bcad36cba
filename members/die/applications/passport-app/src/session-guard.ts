import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, NdxError } from '@ndx/service-kit';
import { SignInRequiredError } from './access-rules.ts';
import { csrfMatches, type Session, type SessionStore, type SignedInSession } from './sessions.ts';

export const SESSION_COOKIE = 'die_session';

/** The form's CSRF token was missing or wrong, or the session is gone. */
export class CsrfError extends NdxError {
  constructor() {
    super(
      'CSRF_INVALID',
      'This form has expired or did not come from this site. Go back to the start page and try again.',
      403,
    );
  }
}

export interface SessionGuard {
  /** The browser's live session, if its cookie is signed by us and not expired. */
  sessionOf(request: FastifyRequest): Promise<Session | undefined>;
  /** The browser's session, an anonymous one started (and its cookie set) when it has none. */
  ensureSession(request: FastifyRequest, reply: FastifyReply): Promise<Session>;
  /** Replaces the browser's session with a new one (new id and CSRF token) holding fields. */
  replaceSession(
    request: FastifyRequest,
    reply: FastifyReply,
    fields: Parameters<SessionStore['create']>[0],
  ): Promise<Session>;
  /** Ends the browser's session and clears its cookie. */
  endSession(reply: FastifyReply, session: Session): Promise<void>;
  /**
   * A page: the signed-in session, or undefined after the reply was set to redirect to the sign-in
   * page (which comes back here afterwards).
   */
  pageSession(request: FastifyRequest, reply: FastifyReply): Promise<SignedInSession | undefined>;
  /** A form post of a signed-in person: a wrong CSRF token is 403 CSRF_INVALID, no one signed in 401. */
  signedInForm(request: FastifyRequest): Promise<{ session: SignedInSession; body: Record<string, unknown> }>;
  /** A form post that needs only the session's CSRF token (signing in and out). */
  csrfForm(request: FastifyRequest): Promise<{ session: Session; body: Record<string, unknown> }>;
  /** Anything else that acts for a person (the consent return): 401 when no one is signed in. */
  signedIn(request: FastifyRequest): Promise<SignedInSession>;
}

const isSignedIn = (session: Session | undefined): session is SignedInSession => session?.user !== undefined;

/** The app's session cookie and the guards every route goes through. */
export function createSessionGuard(sessions: SessionStore, secure: boolean): SessionGuard {
  const sessionOf = async (request: FastifyRequest): Promise<Session | undefined> => {
    const raw = request.cookies[SESSION_COOKIE];
    if (!raw) return undefined;
    const unsigned = request.unsignCookie(raw);
    return unsigned.valid && unsigned.value ? sessions.find(unsigned.value) : undefined;
  };
  const setCookie = (reply: FastifyReply, session: Session) =>
    reply.setCookie(SESSION_COOKIE, session.id, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure,
      signed: true,
      maxAge: sessions.ttlSeconds,
    });
  const csrfForm = async (request: FastifyRequest) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('expected a form');
    const session = await sessionOf(request);
    if (!session || !csrfMatches(session, body['_csrf'])) throw new CsrfError();
    return { session, body };
  };

  return {
    sessionOf,
    csrfForm,
    async ensureSession(request, reply) {
      const existing = await sessionOf(request);
      if (existing) return existing;
      const session = await sessions.create();
      setCookie(reply, session);
      return session;
    },
    async replaceSession(request, reply, fields) {
      const old = await sessionOf(request);
      if (old) await sessions.destroy(old.idHash);
      const session = await sessions.create(fields);
      setCookie(reply, session);
      return session;
    },
    async endSession(reply, session) {
      await sessions.destroy(session.idHash);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
    },
    async pageSession(request, reply) {
      const session = await sessionOf(request);
      if (isSignedIn(session)) return session;
      reply.redirect(`/sign-in?next=${encodeURIComponent(request.url)}`, 303);
      return undefined;
    },
    async signedInForm(request) {
      const { session, body } = await csrfForm(request);
      if (!isSignedIn(session)) throw new SignInRequiredError();
      return { session, body };
    },
    async signedIn(request) {
      const session = await sessionOf(request);
      if (!isSignedIn(session)) throw new SignInRequiredError();
      return session;
    },
  };
}
