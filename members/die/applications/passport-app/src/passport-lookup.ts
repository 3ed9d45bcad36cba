import { z } from 'zod';

/** The one GraphQL operation the passport app sends to NDX. */
export const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;

export type Agency = 'RGD' | 'DRP';

/** Leaves of the NDX answer the app reads, as dotted paths below `personInfo`, with the agency behind each. */
export const NDX_FIELDS = {
  name: 'RGD',
  fullName: 'DRP',
  otherNames: 'DRP',
  address: 'DRP',
  profession: 'DRP',
  dateOfBirth: 'RGD',
  sex: 'RGD',
  'birthInfo.birthRegistrationNumber': 'RGD',
  'birthInfo.birthPlace': 'RGD',
  'birthInfo.district': 'RGD',
} as const satisfies Record<string, Agency>;

export type NdxField = keyof typeof NDX_FIELDS;
export const ndxFieldNames = Object.keys(NDX_FIELDS) as NdxField[];

export const AGENCY_NAMES: Record<Agency, string> = {
  RGD: 'Registrar General’s Department (births)',
  DRP: 'Department for Registration of Persons',
};

/**
 * What NDX said about one field: RELEASED (with a value), NO_VALUE (released, but the agency holds
 * nothing), one of NDX's withholding codes, or NOT_FETCHED (the whole query failed).
 */
export type FieldStatus =
  | 'RELEASED'
  | 'NO_VALUE'
  | 'FORBIDDEN'
  | 'CONSENT_REQUIRED'
  | 'PROVIDER_UNAVAILABLE'
  | 'PROVIDER_ERROR'
  | 'NOT_FETCHED';

export interface SourcedValue {
  agency: Agency;
  status: FieldStatus;
  value: string | null;
}

export interface ConsentNeeded {
  consentId: string;
  portalUrl: string;
}

/** Why a lookup was made: the officer started or refreshed it, or the citizen came back from the portal. */
export type LookupTrigger = 'START' | 'REFRESH' | 'CONSENT_RETURN';

/** One interpreted NDX answer, stored with the application. */
export interface Lookup {
  fetchedAt: string;
  trigger: LookupTrigger;
  /** FAILED: nothing was released (see problem); NOT_FOUND: no record of this NIC. */
  outcome: 'COMPLETE' | 'PARTIAL' | 'NOT_FOUND' | 'FAILED';
  values: Record<NdxField, SourcedValue>;
  consent?: ConsentNeeded;
  problem?: { code: string; message: string };
}

const graphQLError = z.object({
  message: z.string().default(''),
  path: z.array(z.union([z.string(), z.number()])).optional(),
  extensions: z.looseObject({ code: z.string().optional() }).optional(),
});

/** The parts of a GraphQL response the app relies on. */
export const graphQLResponseSchema = z.object({
  data: z.looseObject({ personInfo: z.unknown().optional() }).nullish(),
  errors: z.array(graphQLError).optional(),
});
export type GraphQLResponse = z.infer<typeof graphQLResponseSchema>;
type GraphQLError = z.infer<typeof graphQLError>;

const WITHHOLDING_CODES = new Set<FieldStatus>([
  'FORBIDDEN',
  'CONSENT_REQUIRED',
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_ERROR',
]);

/** A lookup where NDX released nothing, e.g. because it could not be reached or refused the call. */
export function failedLookup(
  problem: { code: string; message: string },
  trigger: LookupTrigger,
  now: Date,
): Lookup {
  const values = Object.fromEntries(
    ndxFieldNames.map((f) => [f, { agency: NDX_FIELDS[f], status: 'NOT_FETCHED', value: null }]),
  ) as Record<NdxField, SourcedValue>;
  return { fetchedAt: now.toISOString(), trigger, outcome: 'FAILED', values, problem };
}

/**
 * Turns NDX's (possibly partial) answer into a status and value per field. An error applies to a
 * field when its path is the field's path or a prefix of it (`["personInfo","birthInfo"]` withholds
 * all three birth fields); the most specific error wins.
 */
export function interpretAnswer(response: GraphQLResponse, trigger: LookupTrigger, now: Date): Lookup {
  const errors = response.errors ?? [];
  const fieldErrors = errors.filter((e) => e.path?.[0] === 'personInfo');
  const person = response.data?.personInfo;
  const topLevel = errors.filter((e) => e.path?.[0] !== 'personInfo');
  if (person === undefined || (person === null && fieldErrors.length === 0 && topLevel.length > 0)) {
    const first = topLevel[0] ?? fieldErrors[0];
    return failedLookup(
      { code: first?.extensions?.code ?? 'NDX_ERROR', message: first?.message || 'NDX released no data' },
      trigger,
      now,
    );
  }

  const values = {} as Record<NdxField, SourcedValue>;
  for (const field of ndxFieldNames) {
    const path = ['personInfo', ...field.split('.')];
    const raw = valueAt(person, path.slice(1));
    if (raw !== null && raw !== undefined && typeof raw !== 'object') {
      values[field] = { agency: NDX_FIELDS[field], status: 'RELEASED', value: String(raw) };
      continue;
    }
    const error = mostSpecificError(fieldErrors, path);
    values[field] = { agency: NDX_FIELDS[field], status: error ? statusOf(error) : 'NO_VALUE', value: null };
  }

  const withheld = ndxFieldNames.some(
    (f) => values[f].status !== 'RELEASED' && values[f].status !== 'NO_VALUE',
  );
  const lookup: Lookup = {
    fetchedAt: now.toISOString(),
    trigger,
    outcome: person === null && fieldErrors.length === 0 ? 'NOT_FOUND' : withheld ? 'PARTIAL' : 'COMPLETE',
    values,
  };
  const consent = consentNeeded(fieldErrors);
  if (consent) lookup.consent = consent;
  return lookup;
}

/** Fields of a lookup in a given status, e.g. those that need the citizen's consent. */
export function fieldsWithStatus(lookup: Lookup, status: FieldStatus): NdxField[] {
  return ndxFieldNames.filter((f) => lookup.values[f].status === status);
}

function valueAt(root: unknown, segments: string[]): unknown {
  let current = root;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function mostSpecificError(errors: GraphQLError[], fieldPath: string[]): GraphQLError | undefined {
  let best: GraphQLError | undefined;
  for (const error of errors) {
    const path = error.path ?? [];
    if (path.length > fieldPath.length) continue;
    if (!path.every((segment, i) => segment === fieldPath[i])) continue;
    if (!best || path.length > (best.path?.length ?? 0)) best = error;
  }
  return best;
}

function statusOf(error: GraphQLError): FieldStatus {
  const code = error.extensions?.code as FieldStatus | undefined;
  return code && WITHHOLDING_CODES.has(code) ? code : 'PROVIDER_ERROR';
}

function consentNeeded(errors: GraphQLError[]): ConsentNeeded | undefined {
  for (const error of errors) {
    const ext = error.extensions;
    if (ext?.code !== 'CONSENT_REQUIRED') continue;
    const consentId = ext['consentId'];
    const portalUrl = ext['consentPortalUrl'];
    if (typeof consentId === 'string' && typeof portalUrl === 'string') return { consentId, portalUrl };
  }
  return undefined;
}
