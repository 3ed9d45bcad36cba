import { z } from 'zod';

/**
 * The PDP's consumer registry, `GET /v1/consumers/{consumerId}`: which FUDI clients are registered
 * consumers of NDX (in the active policy version). The PDP answers with these shapes and the OE parses
 * them, before it lets a consumer's token query NDX.
 */

/** Where the registry lives, relative to the PDP's base URL. */
export const consumerRegistryPaths = {
  /** GET: one consumer (the route pattern, with `:consumerId`). */
  consumer: '/v1/consumers/:consumerId',
} as const;

/** The path of one consumer's entry (the id is URL-encoded). */
export const consumerRegistryPath = (consumerId: string): string =>
  `/v1/consumers/${encodeURIComponent(consumerId)}`;

/** The error code of the 404 for a client that is not a registered consumer (no other 404 carries it). */
export const unknownConsumerCode = 'UNKNOWN_CONSUMER';

/** A registered consumer, as the active policy version holds it. */
export const registeredConsumerSchema = z.object({
  consumerId: z.string().min(1).max(200),
  displayName: z.string(),
  /** The member organisation the consumer app belongs to. */
  member: z.string(),
  /** The purposes it registered. */
  purposes: z.array(z.string()),
  /** The purpose of its queries that name none (the `NDX-Purpose` header); absent: it must name one. */
  defaultPurpose: z.string().optional(),
  /** The policy version the answer comes from. */
  policyVersion: z.number().int().positive(),
});
export type RegisteredConsumer = z.infer<typeof registeredConsumerSchema>;
