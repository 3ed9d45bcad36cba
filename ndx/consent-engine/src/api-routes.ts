import type { FastifyInstance } from 'fastify';
import {
  consentApiPaths,
  consentCheckBatchRequestSchema,
  consentCheckRequestSchema,
  consentDecisionRequestSchema,
  consentIdParamsSchema,
  consentRequestSchema,
  fieldKey,
  type CitizenConsentsResponse,
  type ConsentCheckBatchResponse,
  type ConsentCreateResponse,
  type ConsentWithEvents,
  type ServedConsent,
} from '@ndx/contract';
import { parseInput } from '@ndx/service-kit';
import type { ApiAuthenticator, ApiCaller } from './auth.ts';
import type { ConsentRecord } from './consent-lifecycle.ts';
import type { ConsentStore } from './consent-store.ts';
import { NotDataSubjectError } from './errors.ts';
import { readableFieldName } from './portal/field-names.ts';

export interface ApiRoutesOptions {
  store: ConsentStore;
  auth: ApiAuthenticator;
  /** `${CONSENT_PORTAL_PUBLIC_URL}/consent/{id}` */
  portalUrl: (consentId: string) => string;
}

/**
 * The JSON API, its shapes declared in `@ndx/contract` (ce-api). Internal (service token): check,
 * create-or-reuse, read, revoke. Citizen (user token): own consents, decide, revoke.
 */
export function apiRoutes(options: ApiRoutesOptions) {
  const { store, auth, portalUrl } = options;
  const view = (consent: ConsentRecord): ServedConsent => ({
    consentId: consent.id,
    ...consent,
    consumer: { id: consent.consumerId, ...displayOf(store, consent.consumerId) },
    consentPortalUrl: portalUrl(consent.id),
  });
  const readable = async (caller: ApiCaller, consentId: string) => {
    const consent = await store.get(consentId);
    if (caller.kind === 'citizen' && caller.citizenId !== consent.citizenId) throw new NotDataSubjectError();
    return consent;
  };
  const actorOf = (caller: ApiCaller) =>
    caller.kind === 'service'
      ? ({ type: 'service', id: caller.clientId } as const)
      : ({ type: 'citizen', id: caller.citizenId } as const);

  return async function register(app: FastifyInstance): Promise<void> {
    // Asked once per gated query, so it costs one token verification, one parse with the contract's schema
    // and one prepared statement (ConsentStore.check), and writes no log line per request (warnings and
    // errors still are).
    app.post('/v1/consents/check', { logLevel: 'warn' }, async (request) => {
      await auth.service(request);
      const query = parseInput(consentCheckRequestSchema, request.body);
      return store.check(query);
    });

    // The checks of concurrent queries in one call (the OE groups them): one token verification and one
    // round trip for all of them, each check answered exactly as the route above would answer it, from a
    // read that starts after the call arrived. A malformed check is refused alone.
    app.post(
      consentApiPaths.checks,
      { logLevel: 'warn' },
      async (request): Promise<ConsentCheckBatchResponse> => {
        await auth.service(request);
        const { checks } = parseInput(consentCheckBatchRequestSchema, request.body);
        const parsed = checks.map((check) => consentCheckRequestSchema.safeParse(check));
        const valid = parsed.flatMap((p) => (p.success ? [p.data] : []));
        const answers = await store.checkMany(valid);
        let next = 0;
        const results = parsed.map((p) => {
          if (p.success) return { ok: answers[next++]! };
          const issues = p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
          return { error: { code: 'BAD_REQUEST', message: `invalid check: ${issues}` } };
        });
        return { results };
      },
    );

    app.post('/v1/consents', async (request, reply) => {
      const caller = await auth.service(request);
      const query = parseInput(consentRequestSchema, request.body);
      // A field sent without a display name is shown to the citizen under a readable form of its name.
      const fields = query.fields.map((f) => ({
        ...f,
        displayName: f.displayName ?? readableFieldName(f.field),
      }));
      const { consent, created } = await store.request({ ...query, fields }, actorOf(caller));
      const answer: ConsentCreateResponse = {
        consentId: consent.id,
        status: consent.status,
        consentPortalUrl: portalUrl(consent.id),
        created,
        expiresAt: consent.expiresAt,
        fields: consent.fields,
      };
      return reply.status(created ? 201 : 200).send(answer);
    });

    app.get('/v1/consents/:id', async (request): Promise<ConsentWithEvents> => {
      const caller = await auth.any(request);
      const { id: consentId } = parseInput(consentIdParamsSchema, request.params);
      const consent = await readable(caller, consentId);
      return { ...view(consent), events: await store.events(consent.id) };
    });

    app.post('/v1/consents/:id/decision', async (request): Promise<ServedConsent> => {
      const caller = await auth.citizen(request);
      const { id: consentId } = parseInput(consentIdParamsSchema, request.params);
      const body = parseInput(consentDecisionRequestSchema, request.body);
      const consent = await store.decide(
        consentId,
        caller.citizenId,
        body.decision === 'deny'
          ? { approve: false }
          : { approve: true, ...(body.fields ? { fieldKeys: body.fields.map(fieldKey) } : {}) },
      );
      return view(consent);
    });

    app.post('/v1/consents/:id/revoke', async (request): Promise<ServedConsent> => {
      const caller = await auth.any(request);
      const { id: consentId } = parseInput(consentIdParamsSchema, request.params);
      return view(await store.revoke(consentId, actorOf(caller)));
    });

    app.get('/v1/citizens/me/consents', async (request): Promise<CitizenConsentsResponse> => {
      const caller = await auth.citizen(request);
      const consents = await store.listForCitizen(caller.citizenId);
      return { citizenId: caller.citizenId, consents: consents.map(view) };
    });
  };
}

function displayOf(store: ConsentStore, consumerId: string): { displayName: string; agency: string } {
  const consumer = store.consumer(consumerId);
  return { displayName: consumer?.displayName ?? consumerId, agency: consumer?.agency ?? 'unknown' };
}
