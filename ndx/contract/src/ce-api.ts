// The Consent Engine's HTTP API (JSON over HTTP, FUDI bearer token): the request and response shapes
// both sides of each call use. The CE parses requests with these schemas (400 on anything else); a
// client (the OE) parses the CE's answers with them.
import { z } from 'zod';
import { consentStatuses } from './consent-status.ts';
import { fieldRefSchema } from './field-ref.ts';
import { nicSchema } from './nic.ts';

/** Where each operation lives, relative to the CE's base URL. */
export const consentApiPaths = {
  /** POST: does an active consent cover these fields? */
  check: '/v1/consents/check',
  /** POST: several coverage checks in one call (the OE groups the checks of concurrent queries). */
  checks: '/v1/consents/checks',
  /** POST: create (or reuse) a pending consent request. */
  create: '/v1/consents',
  /** GET: one consent record with its events. */
  consent: (consentId: string): string => `/v1/consents/${encodeURIComponent(consentId)}`,
  /** POST (citizen token): approve or deny a pending request. */
  decision: (consentId: string): string => `/v1/consents/${encodeURIComponent(consentId)}/decision`,
  /** POST, no body: end an active consent. */
  revoke: (consentId: string): string => `/v1/consents/${encodeURIComponent(consentId)}/revoke`,
  /** GET (citizen token): the signed-in citizen's consents. */
  citizenConsents: '/v1/citizens/me/consents',
  /** GET (operator token): how many consents are in each status. */
  summary: '/admin/v1/consents/summary',
  /** GET (operator token): every consumer the CE knows (configured and registered). */
  consumers: '/admin/v1/consumers',
  /** PUT (operator token): register or change a consumer (consumerRegistrationSchema). */
  consumer: (consumerId: string): string => `/admin/v1/consumers/${encodeURIComponent(consumerId)}`,
  /** POST (operator token), no body: the consumer may ask for no new consent. */
  disableConsumer: (consumerId: string): string =>
    `/admin/v1/consumers/${encodeURIComponent(consumerId)}/disable`,
  /** PUT (operator token): register or change a purpose (purposeRegistrationSchema). */
  purpose: (purpose: string): string => `/admin/v1/purposes/${encodeURIComponent(purpose)}`,
} as const;

/** The admin routes' patterns, as the CE registers them (the functions above build their paths). */
export const consentAdminRoutes = {
  consumer: '/admin/v1/consumers/:consumerId',
  disableConsumer: '/admin/v1/consumers/:consumerId/disable',
  purpose: '/admin/v1/purposes/:purpose',
} as const;

const id = z.string().min(1).max(128);
const timestamp = z.iso.datetime();

/** A consent status on the wire. */
export const consentStatusSchema = z.enum(consentStatuses);

/** A field the citizen is asked about; the display name and description come from the PDP's field metadata. */
export const requestedFieldSchema = fieldRefSchema.extend({
  displayName: z.string().min(1).max(200).optional(),
  description: z.string().min(1).max(1000).optional(),
});
export type RequestedField = z.infer<typeof requestedFieldSchema>;

/** Body of `POST /v1/consents` (create or reuse a pending request) and of `POST /v1/consents/check`. */
export const consentRequestSchema = z.object({
  /** The data subject's NIC, in any spelling the NIC rule tolerates; parsed to canonical form. */
  citizenId: nicSchema,
  consumerId: id,
  purpose: id,
  fields: z.array(requestedFieldSchema).min(1).max(500),
});
/** A request as the CE reads it (citizenId canonical). */
export type ConsentRequest = z.infer<typeof consentRequestSchema>;
/** A request as a client sends it. */
export type ConsentRequestBody = z.input<typeof consentRequestSchema>;

/** Body of `POST /v1/consents/check`: the same as a creation (display names are accepted and ignored). */
export const consentCheckRequestSchema = consentRequestSchema;
export type ConsentCheckRequest = ConsentRequest;
export type ConsentCheckRequestBody = ConsentRequestBody;

/** Answer to `POST /v1/consents/check`. */
export const consentCheckResponseSchema = z.object({
  /** Every requested field is granted by an active, unexpired consent. */
  covered: z.boolean(),
  /** The most recently granted active consent that covers part of the request. */
  consentId: z.string().optional(),
  /** Every active consent that contributes to the covered fields. */
  consentIds: z.array(z.string()),
  /**
   * Which consent grants each covered field (one entry per requested field some active consent grants; a field
   * granted by several is credited to the newest grant): what the audit records as having allowed its release.
   */
  coveredBy: z.array(fieldRefSchema.extend({ consentId: z.string() })),
  /** The requested fields no active consent grants. */
  missingFields: z.array(fieldRefSchema),
});
export type ConsentCheckResponse = z.infer<typeof consentCheckResponseSchema>;

/** At most this many checks in one `POST /v1/consents/checks`. */
export const MAX_CONSENT_CHECKS_PER_CALL = 256;

/**
 * Body of `POST /v1/consents/checks`: checks, each the body of `POST /v1/consents/check`. Each is parsed on its
 * own (consentCheckRequestSchema), so that one malformed check is refused alone, not the others with it.
 */
export const consentCheckBatchRequestSchema = z.object({
  checks: z.array(z.unknown()).min(1).max(MAX_CONSENT_CHECKS_PER_CALL),
});
export type ConsentCheckBatchRequest = z.infer<typeof consentCheckBatchRequestSchema>;

/** One check's answer in a batch: what `POST /v1/consents/check` answers, or why this check was refused. */
export const consentCheckResultSchema = z.union([
  z.object({ ok: consentCheckResponseSchema }),
  z.object({ error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type ConsentCheckResult = z.infer<typeof consentCheckResultSchema>;

/** Answer to `POST /v1/consents/checks`: one result per check, in the order of the checks. */
export const consentCheckBatchResponseSchema = z.object({ results: z.array(consentCheckResultSchema) });
export type ConsentCheckBatchResponse = z.infer<typeof consentCheckBatchResponseSchema>;

/** A field of a consent record: what was shown, and whether the citizen granted it (null while pending). */
export const consentFieldSchema = fieldRefSchema.extend({
  displayName: z.string(),
  description: z.string().optional(),
  granted: z.boolean().nullable(),
});
export type ConsentField = z.infer<typeof consentFieldSchema>;

/** Answer to `POST /v1/consents`: 201 when a request was opened, 200 when an open or active one was reused. */
export const consentCreateResponseSchema = z.object({
  consentId: z.string(),
  status: consentStatusSchema,
  /** Where the consumer app sends the citizen to answer (`/consent/{consentId}` on the CE). */
  consentPortalUrl: z.string(),
  created: z.boolean(),
  expiresAt: timestamp,
  fields: z.array(consentFieldSchema),
});
export type ConsentCreateResponse = z.infer<typeof consentCreateResponseSchema>;

/** Who changed a consent. */
export const consentActorSchema = z.object({
  type: z.enum(['citizen', 'service', 'system']),
  id: z.string(),
});
export type ConsentActor = z.infer<typeof consentActorSchema>;

/** One change of a consent's status. */
export const consentEventSchema = z.object({
  /** null for the event that opened the request. */
  from: consentStatusSchema.nullable(),
  to: consentStatusSchema,
  actor: consentActorSchema,
  at: timestamp,
  details: z.record(z.string(), z.unknown()),
});
export type ConsentEvent = z.infer<typeof consentEventSchema>;

/** A consent record as the CE serves it (revoke and decision answers, the citizen's list). */
export const servedConsentSchema = z.object({
  consentId: z.string(),
  id: z.string(),
  citizenId: z.string(),
  consumerId: z.string(),
  purpose: z.string(),
  purposeText: z.string(),
  legalBasis: z.string(),
  fields: z.array(consentFieldSchema),
  /** A pending or active record past its expiry is served as EXPIRED, even before the sweep marks it. */
  status: consentStatusSchema,
  noticeVersion: z.string(),
  /** How long the consent lasts once granted. */
  durationSeconds: z.number().int().positive(),
  createdAt: timestamp,
  decidedAt: timestamp.nullable(),
  grantedAt: timestamp.nullable(),
  /** For a pending request: when it lapses; for an active consent: when it ends. */
  expiresAt: timestamp,
  revokedAt: timestamp.nullable(),
  consumer: z.object({ id: z.string(), displayName: z.string(), agency: z.string() }),
  consentPortalUrl: z.string(),
});
export type ServedConsent = z.infer<typeof servedConsentSchema>;

/** Answer to `GET /v1/consents/{id}`: the record and every change of its status, oldest first. */
export const consentWithEventsSchema = servedConsentSchema.extend({
  events: z.array(consentEventSchema),
});
export type ConsentWithEvents = z.infer<typeof consentWithEventsSchema>;

/** The `{id}` of `/v1/consents/{id}/…`. */
export const consentIdParamsSchema = z.object({ id: z.string().min(1).max(64) });

/** Body of `POST /v1/consents/{id}/decision`: approve all fields, approve some, or deny. */
export const consentDecisionRequestSchema = z.discriminatedUnion('decision', [
  z.object({ decision: z.literal('approve'), fields: z.array(fieldRefSchema).max(500).optional() }),
  z.object({ decision: z.literal('deny') }),
]);
export type ConsentDecisionRequest = z.infer<typeof consentDecisionRequestSchema>;

/** Answer to `GET /v1/citizens/me/consents`: every consent of the signed-in citizen, newest first. */
export const citizenConsentsResponseSchema = z.object({
  citizenId: z.string(),
  consents: z.array(servedConsentSchema),
});
export type CitizenConsentsResponse = z.infer<typeof citizenConsentsResponseSchema>;

/** Answer to `GET /admin/v1/consents/summary`: consents per status now (past expiry counts as EXPIRED), and all. */
export const consentSummarySchema = z.object({
  byStatus: z.record(consentStatusSchema, z.number().int().nonnegative()),
  total: z.number().int().nonnegative(),
  at: timestamp,
});
export type ConsentSummary = z.infer<typeof consentSummarySchema>;

/** A consumer app as the CE shows it to citizens, and the only places it may send them back to. */
export const consumerRegistrationSchema = z.object({
  displayName: z.string().trim().min(1).max(200),
  agency: z.string().trim().min(1).max(200),
  redirectUris: z.array(z.url()).max(20).default([]),
});
export type ConsumerRegistration = z.infer<typeof consumerRegistrationSchema>;

/** What a purpose says to citizens, its legal basis, and how long a consent for it lasts. */
export const purposeRegistrationSchema = z.object({
  text: z.string().trim().min(1).max(1000),
  legalBasis: z.string().trim().min(1).max(100).default('consent'),
  durationDays: z.number().positive().max(3650).default(30),
});
export type PurposeRegistration = z.infer<typeof purposeRegistrationSchema>;

/** Answer to `GET /admin/v1/consumers`. */
export const consumerListSchema = z.object({
  consumers: z.array(
    consumerRegistrationSchema.extend({
      consumerId: z.string(),
      disabledAt: timestamp.optional(),
    }),
  ),
});
export type ConsumerList = z.infer<typeof consumerListSchema>;
