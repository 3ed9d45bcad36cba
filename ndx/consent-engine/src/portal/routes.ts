import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { consentPortalPaths } from '@ndx/contract';
import { BadRequestError, NdxError, type Logger } from '@ndx/service-kit';
import type { ConsentRecord, Decision } from '../consent-lifecycle.ts';
import type { ConsentStore } from '../consent-store.ts';
import { CsrfTokenError, NotDataSubjectError, UnregisteredRedirectError } from '../errors.ts';
import { newLogin, type PortalOidc } from './oidc-client.ts';
import { consentListPage, consentPage, messagePage, type PageContext } from './pages.ts';
import { csrfMatches, type PortalSession, type SessionStore } from './sessions.ts';
import { statusPresentation } from './status-presentation.ts';

export const SESSION_COOKIE = 'ndx_consent_session';

export interface PortalOptions {
  store: ConsentStore;
  sessions: SessionStore;
  oidc: PortalOidc;
  /** CONSENT_PORTAL_PUBLIC_URL */
  publicUrl: string;
  /** Agency name for a provider key. */
  agencyOf: (providerKey: string) => string;
  logger: Logger;
  /** More portal pages, registered inside the portal (its cookies, headers and error pages apply). */
  pages?: ((portal: PortalKit) => (app: FastifyInstance) => Promise<void>)[];
}

/** What a page module registered through `pages` gets: the portal's session, sign-in and page helpers. */
export interface PortalKit {
  sessionOf(request: FastifyRequest): Promise<PortalSession | undefined>;
  /** Starts FUDI sign-in and comes back to returnTo (a /consent path) afterwards. */
  signIn(reply: FastifyReply, returnTo: string): Promise<FastifyReply>;
  page(reply: FastifyReply, status: number, body: string): FastifyReply;
  contextOf(session: PortalSession | undefined): PageContext;
}

const idParams = z.object({ id: z.string().min(1).max(64) });
const consentQuery = z.object({
  redirect_uri: z.string().max(2000).optional(),
  state: z.string().max(500).optional(),
});
const decisionForm = z.object({
  csrf: z.string().optional(),
  action: z.enum(['approve-selected', 'approve-all', 'deny']),
  field: z.union([z.string(), z.array(z.string())]).optional(),
  redirect_uri: z.string().max(2000).optional(),
  state: z.string().max(500).optional(),
});

class SignInRequiredError extends NdxError {
  constructor() {
    super('SIGN_IN_REQUIRED', 'Please sign in again, then repeat what you were doing.', 401);
  }
}

/** Server-rendered portal pages: sign-in through FUDI, the consent request page, and "My consents". */
export function portalRoutes(options: PortalOptions) {
  const { store, sessions, oidc, publicUrl, agencyOf } = options;
  const secure = new URL(publicUrl).protocol === 'https:';

  const sessionOf = (request: FastifyRequest) => sessions.find(request.cookies[SESSION_COOKIE]);
  const setSessionCookie = (reply: FastifyReply, session: PortalSession) =>
    reply.setCookie(SESSION_COOKIE, session.token, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure,
      maxAge: sessions.ttlSeconds,
    });
  const page = (reply: FastifyReply, status: number, body: string) =>
    reply.status(status).type('text/html; charset=utf-8').send(body);
  const contextOf = (session: PortalSession | undefined): PageContext => ({
    citizenId: session?.citizenId,
    csrfToken: session?.csrfToken,
  });

  /** Starts FUDI sign-in and comes back to returnTo afterwards. */
  const signIn = async (reply: FastifyReply, returnTo: string) => {
    const login = newLogin(returnTo);
    let target: URL;
    try {
      target = await oidc.authorizationUrl(login);
    } catch (err) {
      options.logger.error({ err }, 'FUDI sign-in is not reachable');
      return page(
        reply,
        503,
        messagePage(
          'Sign-in unavailable',
          'Sign-in is not available right now. Please try again in a few minutes.',
        ),
      );
    }
    setSessionCookie(reply, await sessions.create(null, login));
    return reply.redirect(target.href, 302);
  };

  /** A redirect_uri must be one the consumer registered, exactly; it is never followed otherwise. */
  const checkRedirect = (consent: ConsentRecord, redirectUri: string | undefined) => {
    if (redirectUri === undefined || redirectUri === '') return undefined;
    const registered = store.consumer(consent.consumerId)?.redirectUris ?? [];
    if (!registered.includes(redirectUri)) throw new UnregisteredRedirectError(redirectUri);
    return redirectUri;
  };
  const returnUrl = (redirectUri: string, consent: ConsentRecord, state: string | undefined) => {
    const url = new URL(redirectUri);
    url.searchParams.set('consent_id', consent.id);
    url.searchParams.set('status', consent.status);
    if (state !== undefined) url.searchParams.set('state', state);
    return url.href;
  };
  const requireCsrf = async (request: FastifyRequest, body: unknown) => {
    const session = await sessionOf(request);
    const csrf = (body as { csrf?: unknown } | undefined)?.csrf;
    if (!csrfMatches(session, csrf)) throw new CsrfTokenError();
    if (!session?.citizenId) throw new SignInRequiredError();
    return session as PortalSession & { citizenId: string };
  };

  return async function register(app: FastifyInstance): Promise<void> {
    await app.register(cookie);
    await app.register(formbody, { bodyLimit: 64 * 1024 });

    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
      );
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('cache-control', 'no-store');
      return payload;
    });

    app.setErrorHandler(async (error, request, reply) => {
      const status =
        error instanceof NdxError ? error.httpStatus : ((error as { statusCode?: number }).statusCode ?? 500);
      const session = await sessionOf(request).catch(() => undefined);
      if (status >= 500) request.log.error({ err: error }, 'portal request failed');
      else request.log.debug({ code: (error as NdxError).code, status }, 'portal request refused');
      const [title, message] = explain(error, status);
      return page(reply, status, messagePage(title, message, contextOf(session)));
    });

    app.get(consentPortalPaths.mine, async (request, reply) => {
      const session = await sessionOf(request);
      if (!session?.citizenId) return signIn(reply, consentPortalPaths.mine);
      const consents = await store.listForCitizen(session.citizenId);
      const notice =
        (request.query as { done?: string }).done === 'revoked'
          ? 'Your consent was withdrawn. It no longer allows any access.'
          : undefined;
      const items = consents.map((consent) => ({
        consent,
        consumerName: store.consumer(consent.consumerId)?.displayName ?? consent.consumerId,
      }));
      return page(reply, 200, consentListPage(items, contextOf(session), notice));
    });

    const kit: PortalKit = { sessionOf, signIn, page, contextOf };
    for (const pagePlugin of options.pages ?? []) await app.register(pagePlugin(kit));

    app.post(consentPortalPaths.revoke, async (request, reply) => {
      const session = await requireCsrf(request, request.body);
      const { id } = parseOr400(idParams, request.params);
      await store.revoke(id, { type: 'citizen', id: session.citizenId });
      return reply.redirect(`${consentPortalPaths.mine}?done=revoked`, 303);
    });

    app.get(consentPortalPaths.consent, async (request, reply) => {
      const { id } = parseOr400(idParams, request.params);
      const query = parseOr400(consentQuery, request.query);
      const consent = await store.get(id);
      const redirectUri = checkRedirect(consent, query.redirect_uri);
      const session = await sessionOf(request);
      if (!session?.citizenId) return signIn(reply, request.url);
      if (session.citizenId !== consent.citizenId) throw new NotDataSubjectError();
      const consumer = store.consumer(consent.consumerId);
      return page(
        reply,
        200,
        consentPage(
          {
            consent,
            consumerName: consumer?.displayName ?? consent.consumerId,
            consumerAgency: consumer?.agency ?? '',
            agencyOf,
            redirectUri,
            state: query.state,
            returnUrl: redirectUri ? returnUrl(redirectUri, consent, query.state) : undefined,
          },
          contextOf(session),
        ),
      );
    });

    app.post(consentPortalPaths.decision, async (request, reply) => {
      const session = await requireCsrf(request, request.body);
      const { id } = parseOr400(idParams, request.params);
      const form = parseOr400(decisionForm, request.body);
      const current = await store.get(id);
      if (current.citizenId !== session.citizenId) throw new NotDataSubjectError();
      const redirectUri = checkRedirect(current, form.redirect_uri);
      const selected = form.field === undefined ? [] : Array.isArray(form.field) ? form.field : [form.field];
      let decision: Decision;
      if (form.action === 'deny') decision = { approve: false };
      else if (form.action === 'approve-all') decision = { approve: true };
      else if (selected.length === 0) {
        throw new BadRequestError('Choose at least one item to share, or choose “Do not share”.');
      } else decision = { approve: true, fieldKeys: selected };
      const consent = await store.decide(id, session.citizenId, decision);
      if (redirectUri) return reply.redirect(returnUrl(redirectUri, consent, form.state), 303);
      const outcome = statusPresentation[consent.status].decided;
      if (!outcome) throw new Error(`a decision left consent ${consent.id} ${consent.status}`);
      const granted = consent.fields.filter((f) => f.granted).map((f) => f.displayName);
      return page(reply, 200, messagePage(outcome.title, outcome.message(granted), contextOf(session)));
    });

    app.get(consentPortalPaths.signInCallback, async (request, reply) => {
      const session = await sessionOf(request);
      const query = request.query as Record<string, string | undefined>;
      if (!session?.login) throw new SignInRequiredError();
      if (query.error) {
        return page(
          reply,
          401,
          messagePage('Sign-in cancelled', 'You did not sign in, so nothing was changed.'),
        );
      }
      const callbackUrl = new URL(`${publicUrl.replace(/\/$/, '')}/auth/callback`);
      callbackUrl.search = new URL(request.url, 'http://x').search;
      let citizenId: string;
      try {
        ({ citizenId } = await oidc.finishSignIn(callbackUrl, session.login));
      } catch (err) {
        request.log.warn({ err: (err as Error).message }, 'sign-in callback rejected');
        throw new SignInRequiredError();
      }
      await sessions.destroy(session.token);
      const signedIn = await sessions.create(citizenId, null);
      setSessionCookie(reply, signedIn);
      const returnTo = session.login.returnTo.startsWith('/consent')
        ? session.login.returnTo
        : consentPortalPaths.mine;
      return reply.redirect(returnTo, 303);
    });

    app.post(consentPortalPaths.signOut, async (request, reply) => {
      const session = await sessionOf(request);
      if (!csrfMatches(session, (request.body as { csrf?: unknown } | undefined)?.csrf))
        throw new CsrfTokenError();
      await sessions.destroy(session!.token);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return page(reply, 200, messagePage('Signed out', 'You are signed out of the consent portal.'));
    });
  };
}

function parseOr400<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new BadRequestError('This link or form is not valid.');
  return result.data;
}

function explain(error: unknown, status: number): [string, string] {
  if (!(error instanceof NdxError)) {
    return status >= 500
      ? ['Something went wrong', 'Something went wrong on our side. Please try again.']
      : ['Request not valid', 'This request is not valid.'];
  }
  switch (error.code) {
    case 'NOT_DATA_SUBJECT':
      return ['Not your consent', 'This consent request is for another person. Only they can answer it.'];
    case 'REDIRECT_URI_NOT_REGISTERED':
      return [
        'Unknown return address',
        'The app that sent you here gave a return address it has not registered, so we will not send you there.',
      ];
    case 'CSRF_TOKEN_INVALID':
      return [
        'Form expired',
        'This form has expired or did not come from this site. Go back, reload the page and try again.',
      ];
    case 'CONSENT_NOT_FOUND':
      return ['Consent not found', 'There is no such consent request. Check the link you followed.'];
    case 'CONSENT_EXPIRED':
      return ['Request expired', 'This request has expired. Go back to the app and start again.'];
    case 'CONSENT_INVALID_TRANSITION':
      return [
        'Already answered',
        'This request has already been answered or has ended, so it cannot be changed now.',
      ];
    case 'SIGN_IN_REQUIRED':
      return ['Please sign in', error.message];
    case 'BAD_REQUEST':
      return ['Request not valid', error.message];
    default:
      return ['Request refused', error.message];
  }
}
