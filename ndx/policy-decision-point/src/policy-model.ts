import { z } from 'zod';

/** A field of a provider schema, as the OE names it: the dotted provider path. */
export interface FieldRef {
  providerKey: string;
  schemaId: string;
  field: string;
}

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

export type Decision = 'PERMIT' | 'DENY' | 'CONSENT_REQUIRED';

/** Why a field got its decision, for logs and audit (the policy ids say which policies). */
export type DecisionReason =
  'PERMITTED' | 'CONSENT_REQUIRED' | 'FORBIDDEN' | 'NOT_GRANTED' | 'UNKNOWN_FIELD' | 'UNKNOWN_CONSUMER';

export interface FieldDecision extends FieldRef {
  decision: Decision;
  policyIds: string[];
  reason: DecisionReason;
  /** From the field's metadata, when the field is known: what a citizen is shown when asked for consent. */
  displayName?: string;
  description?: string;
}

export interface DecisionRequest {
  consumerId: string;
  purpose: string;
  subjectId?: string | null | undefined;
  fields: FieldRef[];
}

/** The key of a field in maps and its Cedar entity id: `providerKey/schemaId/field`. */
export const fieldKey = (f: FieldRef): string => `${f.providerKey}/${f.schemaId}/${f.field}`;

const name = (max: number) => z.string().trim().min(1).max(max);
const identifier = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, . _ : - only');

export const fieldRefSchema = z.object({
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
});

export const grantInput = z.object({
  fields: z.array(fieldRefSchema).max(2000),
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
