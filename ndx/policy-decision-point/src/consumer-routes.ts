import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { consumerRegistryPaths, unknownConsumerCode, type RegisteredConsumer } from '@ndx/contract';
import { NdxError, parseInput } from '@ndx/service-kit';
import type { CallerAuth } from './caller-auth.ts';
import { defaultPurposeOf } from './policy-model.ts';
import type { PolicyRuntime } from './policy-runtime.ts';

/** The client is not a consumer of the active policy version. */
export class UnknownConsumerError extends NdxError {
  constructor(consumerId: string, policyVersion: number) {
    super(
      unknownConsumerCode,
      `${consumerId} is not a registered consumer (policy version ${policyVersion})`,
      404,
    );
  }
}

const consumerParams = z.object({ consumerId: z.string().min(1).max(200) });

/**
 * GET /v1/consumers/{consumerId}: the consumer registry as the active policy version holds it, for the
 * clients that may ask for decisions (the OE checks every consumer's token against it). Read from the
 * compiled version in memory: no database round trip.
 */
export function consumerRoutes(
  app: FastifyInstance,
  deps: { auth: CallerAuth; runtime: PolicyRuntime },
): void {
  app.get(
    consumerRegistryPaths.consumer,
    { preHandler: deps.auth.decisionCaller },
    async (request): Promise<RegisteredConsumer> => {
      const { consumerId } = parseInput(consumerParams, request.params);
      const compiled = deps.runtime.active();
      const consumer = compiled.consumers.get(consumerId);
      if (!consumer) throw new UnknownConsumerError(consumerId, compiled.version);
      const defaultPurpose = defaultPurposeOf(consumer);
      return {
        consumerId: consumer.consumerId,
        displayName: consumer.displayName,
        member: consumer.member,
        purposes: consumer.purposes,
        ...(defaultPurpose ? { defaultPurpose } : {}),
        policyVersion: compiled.version,
      };
    },
  );
}
