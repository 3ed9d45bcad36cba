import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { BadRequestError, ConflictError, NdxError, NotFoundError, UpstreamError } from '@ndx/service-kit';
import { parseNic } from '@ndx/contract';
import { endUserOf, mayProcess, NotOwnNicError, ownNic, type SignedInUser } from './access-rules.ts';
import type { Application, ApplicationStore } from './applications.ts';
import type { Config } from './config.ts';
import type { FudiSignIn } from './fudi-sign-in.ts';
import type { OAuthStateStore } from './oauth-states.ts';
import type { NdxClient } from './ndx-client.ts';
import { parseSubmission, prefill } from './passport-form.ts';
import { fieldsWithStatus, type Lookup } from './passport-lookup.ts';
import { createSessionGuard } from './session-guard.ts';
import type { SessionStore, SignedInSession } from './sessions.ts';
import { signInRoutes } from './sign-in-routes.ts';
import {
  consentDeclinedPage,
  consentNeededPage,
  errorPage,
  formPage,
  signInPage,
  startPage,
  submittedPage,
  type PageContext,
} from '../views/pages.ts';

export { SESSION_COOKIE } from './session-guard.ts';

export interface PassportRoutesOptions {
  config: Config;
  sessions: SessionStore;
  applications: ApplicationStore;
  states: OAuthStateStore;
  ndx: NdxClient;
  fudi: FudiSignIn;
  now: () => Date;
}

/** The `state` on a consent return is unknown, already used, expired, or belongs to another session. */
class StateInvalidError extends NdxError {
  constructor() {
    super(
      'STATE_INVALID',
      'This return from the consent portal could not be matched to an application started in this browser, or it was already used. Open the application again and ask for consent once more.',
      400,
    );
  }
}

const STYLESHEET = readFileSync(join(import.meta.dirname, '..', 'views', 'app.css'), 'utf8');

const idParams = z.object({ id: z.string().max(64) });
const returnQuery = z.object({
  consent_id: z.string().max(200).optional(),
  status: z.string().max(40).optional(),
  state: z.string().max(200).optional(),
});
const manualQuery = z.object({ manual: z.string().optional() });

/**
 * The passport app's pages: sign-in (FUDI), start, consent interstitial and return, the pre-filled
 * form, submission. Nothing about any citizen is read without a signed-in person: pages redirect to
 * the sign-in page, forms and the consent return answer 401. An applicant processes applications
 * for their own NIC only (403 NOT_OWN_NIC to start one for another, 404 for another's); an officer
 * any. Every NDX lookup names the signed-in person in the NDX-End-User header.
 */
export async function passportRoutes(app: FastifyInstance, options: PassportRoutesOptions): Promise<void> {
  const { config, sessions, applications, states, ndx, now } = options;
  const secure = config.PASSPORT_APP_PUBLIC_URL.startsWith('https:');
  const returnUri = `${config.PASSPORT_APP_PUBLIC_URL}/consent/return`;
  const guard = createSessionGuard(sessions, secure);

  await app.register(cookie, { secret: config.PASSPORT_APP_COOKIE_SECRET.split(',').map((s) => s.trim()) });
  await app.register(formbody, { bodyLimit: 64 * 1024 });

  const csp = [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self'",
    // Chromium checks form-action along the whole redirect chain of a form post: signing in and out
    // goes to FUDI, and the consent button goes to the portal, which sends the citizen on to FUDI.
    `form-action 'self' ${config.CONSENT_PORTAL_URL} ${new URL(config.FUDI_ISSUER).origin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', csp);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!reply.getHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler(async (error: FastifyError | Error, request, reply) => {
    const known = error instanceof NdxError;
    const status = known
      ? error.httpStatus
      : typeof (error as FastifyError).statusCode === 'number'
        ? (error as FastifyError).statusCode!
        : 500;
    const code = known ? error.code : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
    const message = known
      ? error.message
      : status >= 500
        ? 'The passport application service had a problem. Try again.'
        : 'The request could not be understood.';
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code, status }, 'request refused');
    const session = await guard.sessionOf(request).catch(() => undefined);
    return reply
      .status(status)
      .type('text/html; charset=utf-8')
      .send(errorPage(status, code, message, { user: session?.user, csrf: session?.csrfToken }));
  });

  await app.register(signInRoutes, { config, guard, fudi: options.fudi });

  const html = (reply: FastifyReply, page: string, status = 200) =>
    reply.status(status).type('text/html; charset=utf-8').send(page);
  const contextOf = (session: SignedInSession): PageContext & { csrf: string } => ({
    user: session.user,
    csrf: session.csrfToken,
  });

  /** The application, when this person may process it; otherwise NOT_FOUND, as if it did not exist. */
  const visible = async (user: SignedInUser, id: string): Promise<Application> => {
    const application = await applications.get(id);
    if (!mayProcess(user, application.nic)) throw new NotFoundError('no such application');
    return application;
  };
  const draft = (application: Application): Application => {
    if (application.status !== 'DRAFT') throw new ConflictError('this application was already submitted');
    return application;
  };
  /** An applicant's own applications; an officer's the ones they started. */
  const recentFor = (user: SignedInUser): Promise<Application[]> => {
    if (user.role === 'officer') return applications.listStartedBy(user.subject);
    const own = ownNic(user);
    return own ? applications.listForNic(own) : Promise.resolve([]);
  };
  const lookUp = (application: Application, session: SignedInSession, trigger: Lookup['trigger']) =>
    ndx.lookUp(application.nic, trigger, endUserOf(session.user));

  app.get('/assets/app.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  );

  app.get('/', async (request, reply) => {
    const session = await guard.ensureSession(request, reply);
    if (!session.user) return html(reply, signInPage({ csrf: session.csrfToken, next: '/' }));
    return html(
      reply,
      startPage({ csrf: session.csrfToken, user: session.user, recent: await recentFor(session.user) }),
    );
  });

  app.post('/applications', async (request, reply) => {
    const { session, body } = await guard.signedInForm(request);
    const { user } = session;
    const nic = parseNic(body['nic']);
    if (!nic) {
      const typed = typeof body['nic'] === 'string' ? body['nic'].slice(0, 40) : '';
      return html(
        reply,
        startPage({
          csrf: session.csrfToken,
          user,
          nic: typed,
          error: typed.trim()
            ? 'Enter a NIC number in one of the two formats.'
            : 'Enter the applicant’s NIC number.',
          recent: await recentFor(user),
        }),
        400,
      );
    }
    if (!mayProcess(user, nic)) {
      request.log.warn({ code: 'NOT_OWN_NIC' }, 'an applicant tried to start an application for another NIC');
      throw new NotOwnNicError(user);
    }
    const application = await applications.create(user, nic);
    await applications.saveLookup(application.id, await lookUp(application, session, 'START'));
    return reply.redirect(`/applications/${application.id}`, 303);
  });

  app.get('/applications/:id', async (request, reply) => {
    const session = await guard.pageSession(request, reply);
    if (!session) return reply;
    const { id } = idParams.parse(request.params);
    const { manual } = manualQuery.parse(request.query);
    const application = await visible(session.user, id);
    if (application.status === 'SUBMITTED')
      return html(reply, submittedPage(application, contextOf(session)));
    const lookup = application.sources.lookup;
    if (manual === undefined && lookup && needsConsentStep(application, lookup)) {
      return html(
        reply,
        consentNeededPage(application, fieldsWithStatus(lookup, 'CONSENT_REQUIRED'), contextOf(session)),
      );
    }
    return html(
      reply,
      formPage({
        application,
        user: session.user,
        csrf: session.csrfToken,
        prefill: prefill(lookup),
        declined: declined(application),
      }),
    );
  });

  app.get('/applications/:id/declined', async (request, reply) => {
    const session = await guard.pageSession(request, reply);
    if (!session) return reply;
    const { id } = idParams.parse(request.params);
    return html(reply, consentDeclinedPage(await visible(session.user, id), contextOf(session)));
  });

  app.post('/applications/:id/refresh', async (request, reply) => {
    const { session } = await guard.signedInForm(request);
    const { id } = idParams.parse(request.params);
    const application = draft(await visible(session.user, id));
    await applications.saveLookup(application.id, await lookUp(application, session, 'REFRESH'));
    return reply.redirect(`/applications/${application.id}`, 303);
  });

  app.post('/applications/:id/consent', async (request, reply) => {
    const { session } = await guard.signedInForm(request);
    const { id } = idParams.parse(request.params);
    const application = draft(await visible(session.user, id));
    const consent = application.sources.lookup?.consent;
    if (!consent) {
      throw new ConflictError(
        'No consent request is open for this application. Fetch the details again first.',
      );
    }
    const portal = trustedPortalUrl(consent.portalUrl, config.CONSENT_PORTAL_URL);
    const state = await states.issue(session.idHash, application.id, consent.consentId);
    portal.searchParams.set('redirect_uri', returnUri);
    portal.searchParams.set('state', state);
    request.log.info(
      { applicationId: application.id, consentId: consent.consentId },
      'sending citizen to the consent portal',
    );
    return reply.redirect(portal.toString(), 303);
  });

  app.get('/consent/return', async (request, reply) => {
    const query = returnQuery.parse(request.query);
    const session = await guard.signedIn(request);
    const redeemed = await states.redeem(query.state, session.idHash);
    if (!redeemed) throw new StateInvalidError();
    if (query.consent_id !== redeemed.consentId) {
      throw new BadRequestError('The consent portal returned a different consent than the one asked for.');
    }
    if (query.status !== 'ACTIVE' && query.status !== 'REJECTED') {
      throw new BadRequestError('The consent portal returned no decision.');
    }
    const application = draft(await visible(session.user, redeemed.applicationId));
    await applications.recordConsentDecision(application.id, {
      consentId: redeemed.consentId,
      status: query.status,
      at: now().toISOString(),
    });
    request.log.info(
      { applicationId: application.id, consentId: redeemed.consentId, status: query.status },
      'citizen returned from the consent portal',
    );
    if (query.status === 'REJECTED') return reply.redirect(`/applications/${application.id}/declined`, 303);
    await applications.saveLookup(application.id, await lookUp(application, session, 'CONSENT_RETURN'));
    return reply.redirect(`/applications/${application.id}`, 303);
  });

  app.post('/applications/:id/submit', async (request, reply) => {
    const { session, body } = await guard.signedInForm(request);
    const { id } = idParams.parse(request.params);
    const application = draft(await visible(session.user, id));
    const lookup = application.sources.lookup;
    const result = parseSubmission(body, lookup, now());
    if (!result.ok) {
      return html(
        reply,
        formPage({
          application,
          user: session.user,
          csrf: session.csrfToken,
          prefill: prefill(lookup),
          values: result.values,
          errors: result.errors,
          declined: declined(application),
        }),
        400,
      );
    }
    const submitted = await applications.submit(application.id, result.form);
    request.log.info({ applicationId: submitted.id }, 'application submitted');
    return reply.redirect(`/applications/${submitted.id}`, 303);
  });
}

/**
 * Show the consent interstitial when the latest answer asks for consent, unless the citizen has
 * already been to the portal since (a partial approval or a refusal: the officer continues by hand).
 */
function needsConsentStep(application: Application, lookup: Lookup): boolean {
  if (!lookup.consent || lookup.trigger === 'CONSENT_RETURN') return false;
  return !application.sources.consentDecisions.some((d) => d.at >= lookup.fetchedAt);
}

/** The citizen's latest decision was a refusal, made after the current answer was fetched. */
function declined(application: Application): boolean {
  const latest = application.sources.consentDecisions.at(-1);
  const fetchedAt = application.sources.lookup?.fetchedAt ?? '';
  return latest?.status === 'REJECTED' && latest.at >= fetchedAt;
}

/** The portal URL from NDX, accepted only on the configured consent portal's origin. */
function trustedPortalUrl(portalUrl: string, portalOrigin: string): URL {
  let url: URL;
  try {
    url = new URL(portalUrl);
  } catch {
    throw new UpstreamError('NDX sent a consent portal address that is not a URL.');
  }
  if (url.origin !== portalOrigin) {
    throw new NdxError(
      'CONSENT_PORTAL_UNTRUSTED',
      `NDX sent a consent portal address on ${url.origin}, which is not the configured portal; the applicant was not sent there.`,
      502,
    );
  }
  return url;
}
