import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  consentAdminRoutes,
  consentApiPaths,
  consumerRegistrationSchema,
  purposeRegistrationSchema,
  type ConsentSummary,
  type ConsumerList,
} from '@ndx/contract';
import { NotFoundError, parseInput, type Pool } from '@ndx/service-kit';
import type { ApiAuthenticator } from './auth.ts';
import type { Clock } from './clock.ts';
import type { ConsumerInfo } from './config.ts';
import { countConsentsByStatus } from './consent-rows.ts';
import type { ConsentStore } from './consent-store.ts';
import type { OperatorRegistrations } from './operator-registrations.ts';

export interface AdminRoutesOptions {
  pool: Pool;
  auth: ApiAuthenticator;
  clock: Clock;
  store: ConsentStore;
  registrations: OperatorRegistrations;
  /** The consumers the service's configuration names (CONSENT_CONSUMERS). */
  configured: Record<string, ConsumerInfo>;
}

const code = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, . _ : - only');

/**
 * The operators' API (operator token with the admin scope): consents by status (ndx status), and the
 * consumers and purposes the CE shows citizens (ndx consumer add | list | disable), changed without a restart.
 */
export function adminRoutes(options: AdminRoutesOptions) {
  const { pool, auth, clock, store, registrations } = options;
  return async function register(app: FastifyInstance): Promise<void> {
    // This plugin's own context: the hook guards these routes only.
    app.addHook('preHandler', async (request) => {
      await auth.operator(request);
    });

    app.get(consentApiPaths.summary, async (): Promise<ConsentSummary> => {
      const at = clock.now();
      const byStatus = await countConsentsByStatus(pool, at);
      const total = Object.values(byStatus).reduce((sum, n) => sum + n, 0);
      return { byStatus, total, at: at.toISOString() };
    });

    app.get(consentApiPaths.consumers, async (): Promise<ConsumerList> => ({
      consumers: [...store.consumers()].map(([consumerId, info]) => ({ consumerId, ...info })),
    }));

    app.put(consentAdminRoutes.consumer, async (request) => {
      const { consumerId } = parseInput(z.object({ consumerId: code }), request.params);
      const body = parseInput(consumerRegistrationSchema, request.body);
      await registrations.setConsumer(consumerId, body);
      request.log.info({ consumerId }, 'consumer registered');
      return { consumerId, ...store.consumer(consumerId) };
    });

    app.post(consentAdminRoutes.disableConsumer, async (request) => {
      const { consumerId } = parseInput(z.object({ consumerId: code }), request.params);
      const configured = Object.hasOwn(options.configured, consumerId)
        ? options.configured[consumerId]
        : undefined;
      if (!(await registrations.disableConsumer(consumerId, configured)))
        throw new NotFoundError(`no consumer ${consumerId}`);
      request.log.info({ consumerId }, 'consumer disabled');
      return { consumerId, ...store.consumer(consumerId) };
    });

    app.put(consentAdminRoutes.purpose, async (request) => {
      const { purpose } = parseInput(z.object({ purpose: code }), request.params);
      const body = parseInput(purposeRegistrationSchema, request.body);
      await registrations.setPurpose(purpose, body);
      request.log.info({ purpose }, 'purpose registered');
      return { purpose, ...body };
    });
  };
}
