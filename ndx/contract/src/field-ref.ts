import { z } from 'zod';

/**
 * One field of a provider's schema, as the exchange names it everywhere (OE, PDP, CE, audit):
 * the provider's key in fl-config.json, the provider schema's id, and the dotted path of the field
 * in that schema (e.g. `getPersonInfo.fullName`).
 */
export interface FieldRef {
  providerKey: string;
  schemaId: string;
  field: string;
}

/**
 * A field reference as it crosses the wire: three bounded, non-empty strings. Names are not
 * checked here (a service that does not know a field says so in its answer, e.g. the PDP's DENY).
 */
export const fieldRefSchema = z.object({
  providerKey: z.string().min(1).max(200),
  schemaId: z.string().min(1).max(200),
  field: z.string().min(1).max(300),
});

/** The one key of a field in maps, sets, consent decisions and Cedar entity ids: `providerKey/schemaId/field`. */
export const fieldKey = (ref: FieldRef): string => `${ref.providerKey}/${ref.schemaId}/${ref.field}`;

/** Just the reference of a value that carries more (a decision, a described field). */
export const fieldRefOf = (ref: FieldRef): FieldRef => ({
  providerKey: ref.providerKey,
  schemaId: ref.schemaId,
  field: ref.field,
});
