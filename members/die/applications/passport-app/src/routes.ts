import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BadRequestError, ConflictError, NdxError, UpstreamError } from '@ndx/service-kit';
import type { Application, ApplicationStore } from './applications.ts';
import type { Config } from './config.ts';
import type { OAuthStateStore } from './oauth-states.ts';
import type { NdxClient } from './ndx-client.ts';
import { parseNic } from '@ndx/contract';
import { parseSubmission, prefill } from './passport-form.ts';
import { fieldsWithStatus, type Lookup } from './passport-lookup.ts';
import { csrfMatches, type Session, type SessionStore } from './sessions.ts';
import {
  consentDeclinedPage,
  consentNeededPage,
  errorPage,
  formPage,
  startPage,
  submittedPage,
} from '../views/pages.ts';

export const SESSION_COOKIE = 'die_session';

export interface PassportRoutesOptions {
  config: Config;
  sessions: SessionStore;
  applications: ApplicationStore;
  states: OAuthStateStore;
  ndx: NdxClient;
  now: () => Date;
}

/** The form's CSRF token was missing or wrong, or the session is gone. */
class CsrfError extends NdxError {
  constructor() {
    super(
      'CSRF_INVALID',
      'This form has expired or did not come from this site. Go back to the start page and try again.',
      403,
    );
  }
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

/** The passport app's pages: start, consent interstitial and return, the pre-filled form, submission. */
export async function passportRoutes(app: FastifyInstance, options: PassportRoutesOptions): Promise<void> {
  const { config, sessions, applications, states, ndx, now } = options;
  const secure = config.PASSPORT_APP_PUBLIC_URL.startsWith('https:');
  const returnUri = `${config.PASSPORT_APP_PUBLIC_URL}/consent/return`;

  await app.register(cookie, { secret: config.PASSPORT_APP_COOKIE_SECRET.split(',').map((s) => s.trim()) });
  await app.register(formbody, { bodyLimit: 64 * 1024 });

  const csp = [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self'",
    // Chromium checks form-action along the whole redirect chain of a form post: the consent button
    // goes to the portal, which sends the citizen on to FUDI to sign in.
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

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
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
    return reply
      .status(status)
      .type('text/html; charset=utf-8')
      .send(errorPage(status, code, message));
  });

  const sessionOf = async (request: FastifyRequest): Promise<Session | undefined> => {
    const raw = request.cookies[SESSION_COOKIE];
    if (!raw) return undefined;
    const unsigned = request.unsignCookie(raw);
    return unsigned.valid && unsigned.value ? sessions.find(unsigned.value) : undefined;
  };

  /** The browser's session, started (and its cookie set) when it has none. */
  const ensureSession = async (request: FastifyRequest, reply: FastifyReply): Promise<Session> => {
    const existing = await sessionOf(request);
    if (existing) return existing;
    const session = await sessions.create();
    reply.setCookie(SESSION_COOKIE, session.id, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure,
      signed: true,
      maxAge: sessions.ttlSeconds,
    });
    return session;
  };

  /** A form post: the session must exist and the form must carry its CSRF token. */
  const formSession = async (
    request: FastifyRequest,
  ): Promise<{ session: Session; body: Record<string, unknown> }> => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('expected a form');
    const session = await sessionOf(request);
    if (!session || !csrfMatches(session, body['_csrf'])) throw new CsrfError();
    return { session, body };
  };

  const html = (reply: FastifyReply, page: string, status = 200) =>
    reply.status(status).type('text/html; charset=utf-8').send(page);

  const draft = (application: Application): Application => {
    if (application.status !== 'DRAFT') throw new ConflictError('this application was already submitted');
    return application;
  };

  app.get('/assets/app.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  );

  app.get('/', async (request, reply) => {
    const session = await ensureSession(request, reply);
    return html(
      reply,
      startPage({ csrf: session.csrfToken, recent: await applications.listForSession(session.idHash) }),
    );
  });

  app.post('/applications', async (request, reply) => {
    const { session, body } = await formSession(request);
    const nic = parseNic(body['nic']);
    if (!nic) {
      const typed = typeof body['nic'] === 'string' ? body['nic'].slice(0, 40) : '';
      return html(
        reply,
        startPage({
          csrf: session.csrfToken,
          nic: typed,
          error: typed.trim()
            ? 'Enter a NIC number in one of the two formats.'
            : 'Enter the applicant’s NIC number.',
          recent: await applications.listForSession(session.idHash),
        }),
        400,
      );
    }
    const application = await applications.create(session.idHash, nic);
    await applications.saveLookup(application.id, await ndx.lookUp(nic, 'START'));
    return reply.redirect(`/applications/${application.id}`, 303);
  });

  app.get('/applications/:id', async (request, reply) => {
    const session = await ensureSession(request, reply);
    const { id } = idParams.parse(request.params);
    const { manual } = manualQuery.parse(request.query);
    const application = await applications.get(id, session.idHash);
    if (application.status === 'SUBMITTED') return html(reply, submittedPage(application));
    const lookup = application.sources.lookup;
    if (manual === undefined && lookup && needsConsentStep(application, lookup)) {
      return html(
        reply,
        consentNeededPage(application, session.csrfToken, fieldsWithStatus(lookup, 'CONSENT_REQUIRED')),
      );
    }
    return html(
      reply,
      formPage({
        application,
        csrf: session.csrfToken,
        prefill: prefill(lookup),
        declined: declined(application),
      }),
    );
  });

  app.get('/applications/:id/declined', async (request, reply) => {
    const session = await ensureSession(request, reply);
    const { id } = idParams.parse(request.params);
    return html(reply, consentDeclinedPage(await applications.get(id, session.idHash)));
  });

  app.post('/applications/:id/refresh', async (request, reply) => {
    const { session } = await formSession(request);
    const { id } = idParams.parse(request.params);
    const application = draft(await applications.get(id, session.idHash));
    await applications.saveLookup(application.id, await ndx.lookUp(application.nic, 'REFRESH'));
    return reply.redirect(`/applications/${application.id}`, 303);
  });

  app.post('/applications/:id/consent', async (request, reply) => {
    const { session } = await formSession(request);
    const { id } = idParams.parse(request.params);
    const application = draft(await applications.get(id, session.idHash));
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
    const session = await sessionOf(request);
    const redeemed = await states.redeem(query.state, session?.idHash);
    if (!session || !redeemed) throw new StateInvalidError();
    if (query.consent_id !== redeemed.consentId) {
      throw new BadRequestError('The consent portal returned a different consent than the one asked for.');
    }
    if (query.status !== 'ACTIVE' && query.status !== 'REJECTED') {
      throw new BadRequestError('The consent portal returned no decision.');
    }
    const application = draft(await applications.get(redeemed.applicationId, session.idHash));
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
    await applications.saveLookup(application.id, await ndx.lookUp(application.nic, 'CONSENT_RETURN'));
    return reply.redirect(`/applications/${application.id}`, 303);
  });

  app.post('/applications/:id/submit', async (request, reply) => {
    const { session, body } = await formSession(request);
    const { id } = idParams.parse(request.params);
    const application = draft(await applications.get(id, session.idHash));
    const lookup = application.sources.lookup;
    const result = parseSubmission(body, lookup, now());
    if (!result.ok) {
      return html(
        reply,
        formPage({
          application,
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
