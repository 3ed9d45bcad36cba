import { z } from 'zod';
import type { FieldRef } from '@ndx/contract';

export const classifications = ['public', 'internal', 'confidential', 'restricted'] as const;
export type Classification = (typeof classifications)[number];

export interface FieldMetadata extends FieldRef {
  displayName: string;
  description: string;
  classification: Classification;
  owner: string;
  consentRequired: boolean;
}

/** A consumer app (its FUDI client id), its member organisation and the purposes it registered. */
export interface Consumer {
  consumerId: string;
  displayName: string;
  member: string;
  purposes: string[];
  /** The purpose of a query that names none; one of `purposes`. */
  defaultPurpose?: string | null;
}

/** The purpose a consumer's query has when it names none: its default, else its only purpose. */
export function defaultPurposeOf(consumer: Consumer): string | undefined {
  if (consumer.defaultPurpose) return consumer.defaultPurpose;
  return consumer.purposes.length === 1 ? consumer.purposes[0] : undefined;
}

/** Minutes after midnight, Farajaland time; end exclusive; start > end runs over midnight. */
export interface TimeWindow {
  start: number;
  end: number;
}

export interface Grant {
  consumerId: string;
  purpose: string;
  fields: FieldRef[];
  /** `consent` releases personal data only with consent; any other basis (e.g. `legal-obligation`) without. */
  legalBasis: string;
  expiresAt: string | null;
  window: TimeWindow | null;
}

/** Everything a decision depends on, as one immutable version. */
export interface PolicyBundle {
  version: number;
  policies: string;
  fields: FieldMetadata[];
  consumers: Consumer[];
  grants: Grant[];
}

export type BundleContent = Omit<PolicyBundle, 'version'>;

const name = (max: number) => z.string().trim().min(1).max(max);
const identifier = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, . _ : - only');

/**
 * A field the PDP holds metadata or a grant for: stricter than a field reference on the wire, because
 * its key becomes a Cedar entity id.
 */
export const knownFieldRefSchema = z.object({
  providerKey: identifier,
  schemaId: identifier,
  field: z
    .string()
    .min(1)
    .max(300)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a dotted provider path'),
});

/** HH:MM, 00:00 to 24:00, as minutes after midnight. */
export const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'HH:MM')
  .transform((v) => Number(v.slice(0, 2)) * 60 + Number(v.slice(3, 5)));

export const formatClockTime = (minutes: number): string =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

export const fieldMetadataInput = z.object({
  displayName: name(200),
  description: z.string().trim().max(2000).default(''),
  classification: z.enum(classifications),
  owner: identifier,
  consentRequired: z.boolean(),
});

export const consumerInput = z.object({
  displayName: name(200),
  member: identifier,
  purposes: z.array(identifier).max(100),
  /** One of purposes (checked where the entry is taken in); null: none; omitted: the current one, if still a purpose. */
  defaultPurpose: identifier.nullable().optional(),
});

export const grantInput = z.object({
  fields: z.array(knownFieldRefSchema).max(2000),
  legalBasis: identifier,
  expiresAt: z.iso.datetime({ offset: true }).nullable().default(null),
  window: z
    .object({ start: clockTime, end: clockTime })
    .refine((w) => w.start !== w.end, 'start and end must differ')
    .refine((w) => w.start < 1440, 'start must be before 24:00')
    .nullable()
    .default(null),
});

export const identifierSchema = identifier;
