import {
  fieldKey,
  fieldRefOf,
  tableDecisionId,
  type DecisionTable,
  type FieldDecision,
  type PolicyDecisionRequest,
  type PolicyDecisionResponse,
  type SubjectPresence,
} from '@ndx/contract';
import type { PolicyClient } from './gate-clients.ts';

/** A table as the OE keeps it: its decisions by field key, its validity as numbers. */
interface HeldTable {
  table: DecisionTable;
  byField: Map<string, FieldDecision>;
  perRequest: Set<string>;
  from: number;
  until: number;
  size: number;
}

export interface DecisionTableOptions {
  /** The PDP: per-request decisions and tables. */
  pdp: PolicyClient & {
    table(consumerId: string, purpose: string, subject: SubjectPresence): Promise<DecisionTable>;
  };
  /** The version whose tables are current now (the change feed), or null: then every decision goes to the PDP. */
  trustedVersion: () => number | null;
  /** The wall clock decisions are taken at (tables expire at validUntil by it). Tests inject one. */
  clock: () => Date;
  /** At most this many field decisions are held, over all tables (the least recently used table goes first). */
  maxFieldDecisions: number;
}

export interface DecisionTables extends PolicyClient {
  /** Drops every table (a policy activation). */
  clear(): void;
  /** How many tables are held. */
  size(): number;
}

/**
 * Decides from the PDP's decision tables, exactly as the PDP would per request: a table is used only while
 * the change feed proves its version current and the clock is inside [validFrom, validUntil); otherwise,
 * and for fields a policy decides per citizen (perRequestFields), the PDP is asked per request
 * (POST /v1/decisions). A table the PDP cannot give makes the decision fail (the gate then fails closed).
 * The decision id of a table decision is `table:<tableId>`, which the PDP's dry run can recompute.
 */
export function createDecisionTables(options: DecisionTableOptions): DecisionTables {
  const held = new Map<string, HeldTable>();
  const fetching = new Map<string, Promise<HeldTable>>();
  let heldSize = 0;
  /** The most recently used table's key: using it again leaves the order as it is. */
  let newest: string | undefined;

  const drop = (key: string) => {
    const entry = held.get(key);
    if (!entry) return;
    held.delete(key);
    heldSize -= entry.size;
    if (newest === key) newest = undefined;
  };
  const keep = (key: string, entry: HeldTable) => {
    drop(key);
    held.set(key, entry);
    heldSize += entry.size;
    newest = key;
    while (heldSize > options.maxFieldDecisions && held.size > 1) drop(held.keys().next().value as string);
  };
  /** Makes a held table the most recently used (most queries use the table the previous one used). */
  const touch = (key: string, entry: HeldTable) => {
    if (newest === key) return;
    held.delete(key);
    held.set(key, entry);
    newest = key;
  };

  const fetchTable = async (key: string, request: PolicyDecisionRequest, subject: SubjectPresence) => {
    const inFlight = fetching.get(key);
    if (inFlight) return inFlight;
    const pending: Promise<HeldTable> = options.pdp
      .table(request.consumerId, request.purpose, subject)
      .then(toHeld)
      .finally(() => {
        if (fetching.get(key) === pending) fetching.delete(key);
      });
    fetching.set(key, pending);
    return pending;
  };

  return {
    async decide(request) {
      const version = options.trustedVersion();
      if (version === null) return options.pdp.decide(request);
      const subject: SubjectPresence = request.subjectId ? 'present' : 'absent';
      const key = `${request.consumerId}\u0000${request.purpose}\u0000${subject}`;
      const at = options.clock();
      const usable = (entry: HeldTable | undefined) =>
        entry !== undefined &&
        entry.table.policyVersion === version &&
        options.trustedVersion() === version &&
        entry.from <= at.getTime() &&
        at.getTime() < entry.until;
      let entry = held.get(key);
      if (usable(entry)) touch(key, entry!);
      else {
        drop(key);
        entry = await fetchTable(key, request, subject);
        if (entry.table.policyVersion === options.trustedVersion()) keep(key, entry);
        // A table of another version (an activation crossed the fetch) or not valid now is not used.
        if (!usable(entry)) return options.pdp.decide(request);
      }
      return fromTable(entry!, request, at);
    },
    clear() {
      held.clear();
      fetching.clear();
      heldSize = 0;
      newest = undefined;
    },
    size: () => held.size,
  };

  /** The answer POST /v1/decisions would give, from the table; per request when a field is decided per citizen. */
  async function fromTable(
    entry: HeldTable,
    request: PolicyDecisionRequest,
    at: Date,
  ): Promise<PolicyDecisionResponse> {
    if (request.fields.some((f) => entry.perRequest.has(fieldKey(f)))) return options.pdp.decide(request);
    const { table } = entry;
    return {
      decisionId: tableDecisionId(table.tableId),
      policyVersion: table.policyVersion,
      decidedAt: at.toISOString(),
      fields: request.fields.map(
        (f) =>
          entry.byField.get(fieldKey(f)) ?? {
            ...fieldRefOf(f),
            decision: 'DENY',
            policyIds: [],
            reason: table.unlistedReason,
          },
      ),
    };
  }
}

function toHeld(table: DecisionTable): HeldTable {
  return {
    table,
    byField: new Map(table.fields.map((f) => [fieldKey(f), f])),
    perRequest: new Set(table.perRequestFields.map(fieldKey)),
    from: Date.parse(table.validFrom),
    until: Date.parse(table.validUntil),
    size: table.fields.length + table.perRequestFields.length + 1,
  };
}
