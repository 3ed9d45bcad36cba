import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { identityAdminPaths } from '@ndx/contract';
import {
  NotFoundError,
  parseInput,
  requireOperator,
  type OperatorPolicy,
  type TokenVerifier,
} from '@ndx/service-kit';
import type { ClientStore } from './clients.ts';

const clientParams = z.object({ clientId: z.string().min(1).max(64) });

/** A consumer app's client, as an operator adds it (ndx consumer add): client credentials for the given resources. */
const newClientSchema = z.object({
  clientId: z.string(),
  name: z.string().trim().min(1).max(200),
  resources: z.array(z.string().min(1).max(200)).min(1).max(20),
  scopes: z.array(z.string()).max(20).default([]),
});

/**
 * FUDI's operator API (a FUDI token for FUDI's own audience, with the admin scope, from an operator client):
 * add a client (its secret answered once), list clients, disable a client. A change is seen by the next token
 * request: FUDI reads clients from its database on every lookup.
 */
export function fudiAdminRoutes(options: {
  clients: ClientStore;
  verifier: TokenVerifier;
  operators: OperatorPolicy;
}) {
  const { clients, verifier, operators } = options;
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('preHandler', async (request) => {
      requireOperator(await verifier.verifyAuthorizationHeader(request.headers.authorization), operators);
    });

    app.get(identityAdminPaths.clients, async () => ({ clients: await clients.list() }));

    app.post(identityAdminPaths.clients, async (request, reply) => {
      const body = parseInput(newClientSchema, request.body);
      const added = await clients.addOperatorClient({
        clientId: body.clientId,
        name: body.name,
        resources: body.resources,
        scopes: body.scopes,
        grantTypes: ['client_credentials'],
      });
      request.log.info({ clientId: added.clientId }, 'client added by an operator');
      return reply.status(201).send(added);
    });

    app.post(identityAdminPaths.disableRoute, async (request) => {
      const { clientId } = parseInput(clientParams, request.params);
      if (!(await clients.disable(clientId)))
        throw new NotFoundError(
          `no client ${clientId} added by an operator (configured clients change in FUDI_CLIENTS)`,
        );
      request.log.info({ clientId }, 'client disabled by an operator');
      return { clientId, disabled: true };
    });
  };
}
