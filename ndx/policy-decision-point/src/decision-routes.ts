import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Counter } from 'prom-client';
import { policyApiPaths, policyDecisionRequestSchema, type PolicyDecisionResponse } from '@ndx/contract';
import { parseInput } from '@ndx/service-kit';
import type { CallerAuth } from './caller-auth.ts';
import { decideFields } from './decision-engine.ts';
import type { PolicyRuntime } from './policy-runtime.ts';

/** POST /v1/decisions: a decision per field for one consumer, purpose and data subject. */
export function decisionRoutes(
  app: FastifyInstance,
  deps: { auth: CallerAuth; runtime: PolicyRuntime; clock: () => Date; timeZone: string },
): void {
  const fieldDecisions = new Counter({
    name: 'pdp_field_decisions_total',
    help: 'Field decisions made, by outcome',
    labelNames: ['decision'] as const,
    registers: [app.metrics.registry],
  });

  app.post(
    policyApiPaths.decisions,
    { preHandler: deps.auth.decisionCaller },
    async (request): Promise<PolicyDecisionResponse> => {
      const body = parseInput(policyDecisionRequestSchema, request.body);
      const compiled = deps.runtime.active();
      const at = deps.clock();
      const { fields } = decideFields(compiled, body, at, deps.timeZone);
      const decisionId = randomUUID();
      const counts = { PERMIT: 0, DENY: 0, CONSENT_REQUIRED: 0 };
      for (const f of fields) counts[f.decision]++;
      for (const [decision, n] of Object.entries(counts)) if (n > 0) fieldDecisions.inc({ decision }, n);
      request.log.debug(
        {
          decisionId,
          caller: request.caller?.clientId,
          consumerId: body.consumerId,
          purpose: body.purpose,
          policyVersion: compiled.version,
          ...counts,
        },
        'policy decision',
      );
      return { decisionId, policyVersion: compiled.version, decidedAt: at.toISOString(), fields };
    },
  );
}
