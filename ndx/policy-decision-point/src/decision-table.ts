import { createHash } from 'node:crypto';
import {
  fieldRefOf,
  type DecisionTable,
  type FieldDecision,
  type FieldRef,
  type SubjectPresence,
} from '@ndx/contract';
import { entityConstants } from './decision-dependence.ts';
import { decideFields, localTime } from './decision-engine.ts';
import type { CompiledPolicy } from './policy-compiler.ts';

/**
 * Decision tables: every field of a compiled version's catalogue decided for one consumer, purpose and
 * subject presence, by the same code as POST /v1/decisions (decideFields), with the instant until which
 * no policy can decide differently. Fields whose decision can depend on which citizen is asked (a policy
 * reads the data subject, CompiledPolicy.readsSubject) are left to per-request decisions.
 */

/** No table is trusted for longer than this, whatever the policies say. */
export const MAX_TABLE_MS = 24 * 60 * 60 * 1000;
/** A subject that stands for any citizen when no policy reads the subject's value. */
const ANY_SUBJECT = 'any-data-subject';

/** `v<version>-<p|a>-<validFrom, s since epoch>-<consumer and purpose digest>`: enough to recompute the table. */
export function tableIdOf(
  version: number,
  subject: SubjectPresence,
  validFrom: Date,
  consumerId: string,
  purpose: string,
): string {
  const seconds = Math.floor(validFrom.getTime() / 1000);
  return `v${version}-${subject === 'present' ? 'p' : 'a'}-${seconds}-${consumerDigest(consumerId, purpose)}`;
}

export interface ParsedTableId {
  version: number;
  subject: SubjectPresence;
  validFrom: Date;
  digest: string;
}

/** The parts of a table id, or undefined when it is not one. */
export function parseTableId(tableId: string): ParsedTableId | undefined {
  const match = /^v(\d{1,9})-([pa])-(\d{1,12})-([0-9a-f]{16})$/.exec(tableId);
  if (!match) return undefined;
  return {
    version: Number(match[1]),
    subject: match[2] === 'p' ? 'present' : 'absent',
    validFrom: new Date(Number(match[3]) * 1000),
    digest: match[4]!,
  };
}

export const consumerDigest = (consumerId: string, purpose: string): string =>
  createHash('sha256').update(`${consumerId}\u0000${purpose}`).digest('hex').slice(0, 16);

/** The table of one consumer, purpose and subject presence, as decided at `at` (one-second resolution). */
export function computeTable(
  compiled: CompiledPolicy,
  consumerId: string,
  purpose: string,
  subject: SubjectPresence,
  at: Date,
  timeZone: string,
): DecisionTable {
  const validFrom = new Date(Math.floor(at.getTime() / 1000) * 1000);
  const catalogue: FieldRef[] = [...compiled.fields.values()].map((f) => fieldRefOf(f.metadata));
  const principal = compiled.principal(consumerId, purpose);
  const perRequest = subject === 'present' && compiled.readsSubject;
  const request = {
    consumerId,
    purpose,
    subjectId: subject === 'present' ? ANY_SUBJECT : null,
    fields: catalogue,
  };
  const fields = perRequest ? [] : decideFields(compiled, request, validFrom, timeZone).fields;
  return {
    tableId: tableIdOf(compiled.version, subject, validFrom, consumerId, purpose),
    policyVersion: compiled.version,
    consumerId,
    purpose,
    subject,
    validFrom: validFrom.toISOString(),
    validUntil: validUntilOf(compiled, request, fields, validFrom, timeZone).toISOString(),
    fields,
    perRequestFields: perRequest ? catalogue : [],
    unlistedReason: principal ? 'UNKNOWN_FIELD' : 'UNKNOWN_CONSUMER',
  };
}

/** Candidate instants are checked against the decisions up to this many; the next one is then taken as is. */
const VERIFIED_CANDIDATES = 8;

/**
 * The instant after `validFrom` until which every decision of the table stays as it is: the first change
 * candidate (see changeCandidates) at which the decisions differ. Between two consecutive candidates no
 * comparison of the time context can flip, so the decisions there are those at the earlier candidate.
 */
function validUntilOf(
  compiled: CompiledPolicy,
  request: { consumerId: string; purpose: string; subjectId: string | null; fields: FieldRef[] },
  decided: FieldDecision[],
  validFrom: Date,
  timeZone: string,
): Date {
  const candidates = changeCandidates(compiled, request.consumerId, request.purpose, validFrom, timeZone);
  const now = JSON.stringify(decided);
  for (const [index, candidate] of candidates.entries()) {
    if (index === candidates.length - 1 || index >= VERIFIED_CANDIDATES) return new Date(candidate);
    const then = decideFields(compiled, request, new Date(candidate), timeZone).fields;
    if (JSON.stringify(then) !== now) return new Date(candidate);
  }
  return new Date(validFrom.getTime() + MAX_TABLE_MS);
}

/** The first instant after `at` at which a decision of this consumer and purpose could differ (changeCandidates). */
export function nextChange(
  compiled: CompiledPolicy,
  consumerId: string,
  purpose: string,
  at: Date,
  timeZone: string,
): Date {
  return new Date(changeCandidates(compiled, consumerId, purpose, at, timeZone)[0]!);
}

/**
 * The instants after `at` (second-aligned), in order, at which a decision of this consumer and purpose
 * could differ, read from the policies' parsed form and the grant data: the time-of-day boundaries (every
 * Long the policies or the grant data hold, and the minute after it, as `minuteOfDay` in the policy time
 * zone), a local date change, the datetimes `now` is compared with (grant expiry, policy literals); the next
 * minute or second when a policy uses the time in a way not analysed. Ends with `at` + MAX_TABLE_MS.
 */
export function changeCandidates(
  compiled: CompiledPolicy,
  consumerId: string,
  purpose: string,
  at: Date,
  timeZone: string,
): number[] {
  const from = Math.floor(at.getTime() / 1000) * 1000;
  const cap = from + MAX_TABLE_MS;
  const candidates = new Set<number>([cap]);
  const add = (candidate: number) => {
    if (candidate > from && candidate < cap) candidates.add(candidate);
  };
  const dependence = compiled.timeDependence;
  const principal = compiled.principal(consumerId, purpose);
  const constants = { longs: [...dependence.longs], datetimes: [...dependence.datetimes] };
  if (principal) entityConstants(principal.entity, constants);

  // The grant's expiry decides GRANT_EXPIRED even where no policy reads `now`.
  const expiresAt = principal?.terms.expiresAt;
  const datetimes = typeof expiresAt === 'number' ? [...constants.datetimes, expiresAt] : constants.datetimes;
  if (dependence.nowAnySecond) add(from + 1000);
  // A comparison with X flips at X (<, >=) or just after it (<=, >); decisions are taken per whole second.
  for (const x of datetimes) for (const flip of [x, x + 1]) add(Math.ceil(flip / 1000) * 1000);

  if (dependence.minuteOfDay || dependence.date) {
    const minuteStart = Math.floor(from / 60_000) * 60_000;
    const today = localTime(new Date(from), timeZone).date;
    const minutes = new Set<number>();
    for (const c of constants.longs) {
      for (const m of [c, c + 1]) if (Number.isInteger(m) && m >= 0 && m < 1440) minutes.add(m);
    }
    if (dependence.minuteAnyMinute) add(minuteStart + 60_000);
    // Without a UTC offset change within the day ahead (no DST switch), local minutes follow by arithmetic.
    const m0 = localTime(new Date(minuteStart), timeZone).minuteOfDay;
    const steady = localTime(new Date(minuteStart + 1440 * 60_000), timeZone).minuteOfDay === m0;
    let dateChanged = false;
    for (let t = minuteStart + 60_000, k = 1; t < cap; t += 60_000, k++) {
      const local = steady ? undefined : localTime(new Date(t), timeZone);
      const minute = local?.minuteOfDay ?? (m0 + k) % 1440;
      if (dependence.minuteOfDay && minutes.has(minute)) add(t);
      if (dependence.date && !dateChanged && (local ? local.date !== today : minute === 0)) {
        add(t);
        dateChanged = true;
      }
    }
  }
  return [...candidates].sort((a, b) => a - b);
}

/**
 * The tables computed so far, per compiled version, consumer, purpose and subject presence, reused while
 * the instant asked for lies in [validFrom, validUntil); at most `limit` (the least recently used go first).
 */
export function createTableCache(limit = 2_000) {
  const tables = new Map<string, { table: DecisionTable; from: number; until: number }>();
  return {
    tableFor(
      compiled: CompiledPolicy,
      consumerId: string,
      purpose: string,
      subject: SubjectPresence,
      at: Date,
      timeZone: string,
    ): DecisionTable {
      const key = `${compiled.policySetId}\u0000${consumerId}\u0000${purpose}\u0000${subject}\u0000${timeZone}`;
      const t = at.getTime();
      const hit = tables.get(key);
      tables.delete(key);
      if (hit && hit.from <= t && t < hit.until) {
        tables.set(key, hit);
        return hit.table;
      }
      const table = computeTable(compiled, consumerId, purpose, subject, at, timeZone);
      tables.set(key, { table, from: Date.parse(table.validFrom), until: Date.parse(table.validUntil) });
      while (tables.size > limit) tables.delete(tables.keys().next().value as string);
      return table;
    },
  };
}
