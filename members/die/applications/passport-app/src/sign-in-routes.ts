import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { NdxError } from '@ndx/service-kit';
import { roleOf, type SignedInUser } from './access-rules.ts';
import type { Config } from './config.ts';
import { newLogin, safeReturnPath, type FudiSignIn } from './fudi-sign-in.ts';
import type { SessionGuard } from './session-guard.ts';
import { signInPage } from '../views/pages.ts';

class SignInUnavailableError extends NdxError {
  constructor() {
    super(
      'SIGN_IN_UNAVAILABLE',
      'Signing in with FUDI is not possible right now. Try again in a few minutes.',
      503,
    );
  }
}

/** The callback came without a sign-in started in this browser (or after the session ended). */
class SignInExpiredError extends NdxError {
  constructor() {
    super(
      'SIGN_IN_EXPIRED',
      'This sign-in has expired or was started in another browser. Sign in again.',
      400,
    );
  }
}

class SignInCancelledError extends NdxError {
  constructor() {
    super('SIGN_IN_CANCELLED', 'You did not sign in, so nothing was done. Sign in to continue.', 401);
  }
}

/** FUDI's answer did not check out (state, nonce, PKCE, ID token). */
class SignInFailedError extends NdxError {
  constructor() {
    super('SIGN_IN_FAILED', 'The sign-in could not be completed. Sign in again.', 401);
  }
}

export interface SignInRoutesOptions {
  config: Config;
  guard: SessionGuard;
  fudi: FudiSignIn;
}

const signInQuery = z.object({ next: z.string().max(300).optional(), signed_out: z.string().optional() });

/**
 * Signing in and out with FUDI: the sign-in page, the start of FUDI's authorization code + PKCE flow,
 * its callback (which makes the session a signed-in one: a new session id, the FUDI subject, and the
 * role from the `roles` claim), and signing out (here and at FUDI).
 */
export async function signInRoutes(app: FastifyInstance, options: SignInRoutesOptions): Promise<void> {
  const { config, guard, fudi } = options;
  const callbackUri = `${config.PASSPORT_APP_PUBLIC_URL}/auth/callback`;
  const html = (reply: FastifyReply, page: string, status = 200) =>
    reply.status(status).type('text/html; charset=utf-8').send(page);

  app.get('/sign-in', async (request, reply) => {
    const query = signInQuery.parse(request.query);
    const next = safeReturnPath(query.next);
    const session = await guard.ensureSession(request, reply);
    if (session.user) return reply.redirect(next, 303);
    return html(
      reply,
      signInPage({
        csrf: session.csrfToken,
        next,
        ...(query.signed_out !== undefined ? { notice: 'You are signed out.' } : {}),
      }),
    );
  });

  app.post('/auth/sign-in', async (request, reply) => {
    const { body } = await guard.csrfForm(request);
    const login = newLogin(typeof body['next'] === 'string' ? body['next'] : '/');
    let target: URL;
    try {
      target = await fudi.authorizationUrl(login);
    } catch (err) {
      request.log.error({ err: (err as Error).message }, 'FUDI sign-in is not reachable');
      throw new SignInUnavailableError();
    }
    await guard.replaceSession(request, reply, { login });
    return reply.redirect(target.href, 303);
  });

  app.get('/auth/callback', async (request, reply) => {
    const session = await guard.sessionOf(request);
    const login = session?.login;
    if (!session || !login) throw new SignInExpiredError();
    if ((request.query as Record<string, unknown>)['error'] !== undefined) {
      await guard.replaceSession(request, reply, {});
      throw new SignInCancelledError();
    }
    const callbackUrl = new URL(callbackUri);
    callbackUrl.search = new URL(request.url, 'http://callback').search;
    let user: SignedInUser;
    let idToken: string;
    try {
      const identity = await fudi.finishSignIn(callbackUrl, login);
      user = {
        subject: identity.subject,
        role: roleOf(identity.roles, config.PASSPORT_APP_OFFICER_ROLE),
        name: identity.name,
      };
      idToken = identity.idToken;
    } catch (err) {
      request.log.warn({ err: (err as Error).message }, 'sign-in callback rejected');
      await guard.replaceSession(request, reply, {});
      throw new SignInFailedError();
    }
    await guard.replaceSession(request, reply, { user, idToken });
    request.log.info({ role: user.role }, 'signed in');
    return reply.redirect(login.returnTo, 303);
  });

  app.post('/auth/sign-out', async (request, reply) => {
    const { session } = await guard.csrfForm(request);
    await guard.endSession(reply, session);
    if (session.idToken) {
      try {
        return reply.redirect((await fudi.endSessionUrl(session.idToken)).href, 303);
      } catch (err) {
        request.log.warn({ err: (err as Error).message }, 'FUDI sign-out is not reachable');
      }
    }
    return reply.redirect('/sign-in?signed_out=1', 303);
  });
}
