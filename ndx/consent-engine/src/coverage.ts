import { fieldKey, fieldRefOf, type ConsentCheckResponse, type FieldRef } from '@ndx/contract';
import type { ActiveGrant } from './consent-rows.ts';

/**
 * Which of the requested fields the citizen's active consents grant, and which consent grants each
 * (`coveredBy`). `active` is ordered newest grant first; a field granted by several consents is credited
 * to the newest.
 */
export function coverageOf(
  active: readonly ActiveGrant[],
  requested: readonly FieldRef[],
): ConsentCheckResponse {
  const grantedBy = new Map<string, string>();
  for (const consent of active) {
    for (const f of consent.fields) {
      if (f.granted === true && !grantedBy.has(fieldKey(f))) grantedBy.set(fieldKey(f), consent.id);
    }
  }
  const missingFields: FieldRef[] = [];
  const coveredBy: ConsentCheckResponse['coveredBy'] = [];
  const contributing = new Set<string>();
  for (const f of uniqueFields(requested)) {
    const by = grantedBy.get(fieldKey(f));
    if (by) {
      contributing.add(by);
      coveredBy.push({ ...fieldRefOf(f), consentId: by });
    } else missingFields.push(fieldRefOf(f));
  }
  const consentIds = active.map((c) => c.id).filter((id) => contributing.has(id));
  return {
    covered: missingFields.length === 0 && requested.length > 0,
    ...(consentIds[0] ? { consentId: consentIds[0] } : {}),
    consentIds,
    coveredBy,
    missingFields,
  };
}

/** The fields without repeats (the first of each key kept), in order. */
export function uniqueFields<F extends FieldRef>(fields: readonly F[]): F[] {
  const seen = new Map<string, F>();
  for (const f of fields) if (!seen.has(fieldKey(f))) seen.set(fieldKey(f), f);
  return [...seen.values()];
}
