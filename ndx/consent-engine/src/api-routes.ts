import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseInput } from '@ndx/service-kit';
import type { ApiAuthenticator, ApiCaller } from './auth.ts';
import { fieldKey, type ConsentRecord, type ConsentStore } from './consent-store.ts';
import { NotDataSubjectError } from './errors.ts';

const id = z.string().min(1).max(128);
const fieldRef = z.object({
  providerKey: id,
  schemaId: id,
  field: z.string().min(1).max(256),
});
const requestedField = fieldRef.extend({
  displayName: z.string().min(1).max(200).optional(),
  description: z.string().min(1).max(1000).optional(),
});
const consentQuery = z.object({
  citizenId: z.string().min(1).max(64),
  consumerId: id,
  purpose: id,
  fields: z.array(requestedField).min(1).max(500),
});
const decisionBody = z.discriminatedUnion('decision', [
  z.object({ decision: z.literal('approve'), fields: z.array(fieldRef).max(500).optional() }),
  z.object({ decision: z.literal('deny') }),
]);
const idParams = z.object({ id: z.string().min(1).max(64) });

export interface ApiRoutesOptions {
  store: ConsentStore;
  auth: ApiAuthenticator;
  /** `${CONSENT_PORTAL_PUBLIC_URL}/consent/{id}` */
  portalUrl: (consentId: string) => string;
}

/**
 * The JSON API. Internal (service token): check, create-or-reuse, read, revoke.
 * Citizen (user token): own consents, decide, revoke.
 */
export function apiRoutes(options: ApiRoutesOptions) {
  const { store, auth, portalUrl } = options;
  const view = (consent: ConsentRecord) => ({
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
    app.post('/v1/consents/check', async (request) => {
      await auth.service(request);
      const query = parseInput(consentQuery, request.body);
      return store.check(query);
    });

    app.post('/v1/consents', async (request, reply) => {
      const caller = await auth.service(request);
      const query = parseInput(consentQuery, request.body);
      const { consent, created } = await store.request(query, actorOf(caller));
      return reply.status(created ? 201 : 200).send({
        consentId: consent.id,
        status: consent.status,
        consentPortalUrl: portalUrl(consent.id),
        created,
        expiresAt: consent.expiresAt,
        fields: consent.fields,
      });
    });

    app.get('/v1/consents/:id', async (request) => {
      const caller = await auth.any(request);
      const { id: consentId } = parseInput(idParams, request.params);
      const consent = await readable(caller, consentId);
      return { ...view(consent), events: await store.events(consent.id) };
    });

    app.post('/v1/consents/:id/decision', async (request) => {
      const caller = await auth.citizen(request);
      const { id: consentId } = parseInput(idParams, request.params);
      const body = parseInput(decisionBody, request.body);
      const consent = await store.decide(
        consentId,
        caller.citizenId,
        body.decision === 'deny'
          ? { approve: false }
          : { approve: true, ...(body.fields ? { fieldKeys: body.fields.map(fieldKey) } : {}) },
      );
      return view(consent);
    });

    app.post('/v1/consents/:id/revoke', async (request) => {
      const caller = await auth.any(request);
      const { id: consentId } = parseInput(idParams, request.params);
      return view(await store.revoke(consentId, actorOf(caller)));
    });

    app.get('/v1/citizens/me/consents', async (request) => {
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
