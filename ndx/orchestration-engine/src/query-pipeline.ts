import type { DocumentNode } from 'graphql';
import type { AuditWriter } from '@ndx/audit';
import type { DataSubjectRule } from '@ndx/contract';
import { NdxError, type Logger } from '@ndx/service-kit';
import { auditRecordsFor, type AuditRequestIdentity } from './audit-record.ts';
import { fetchReleased, type FetchResult } from './fetching.ts';
import type { ConsentClient, PolicyClient } from './gate-clients.ts';
import { withCanonicalSubjects } from './data-subjects.ts';
import { gateQuery, GateUnavailableError, undecidedGate, type GateResult } from './gating.ts';
import type { OeMetrics } from './oe-metrics.ts';
import { mergeResults, newLeafDelivery, type UnifiedError } from './merger.ts';
import type { QueryPlanner } from './planner.ts';
import type { ProviderClient } from './provider-client.ts';
import type { QueryPlan } from './query-plan.ts';

export interface PipelineDeps {
  planner: QueryPlanner;
  policy: PolicyClient;
  consent: ConsentClient;
  /** fl-config.json's dataSubjects: which root fields are gated for the citizen they name. */
  dataSubjects: readonly DataSubjectRule[];
  providers: ReadonlyMap<string, ProviderClient>;
  audit: AuditWriter;
  metrics: OeMetrics;
  logger: Logger;
}

/** One query, and who asked (consumer, end user) and how it is referred to (reference, trace). */
export interface PipelineRequest extends AuditRequestIdentity {
  document: DocumentNode;
  source: string;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
  /** Stage timings in ms; the pipeline adds its own (validate is filled in before). */
  timings: Record<string, number>;
}

export interface PipelineResponse {
  status: number;
  data: Record<string, unknown> | null | undefined;
  errors: UnifiedError[];
  /** The request's audit reference, when its audit records were committed (else nothing refers to them). */
  auditReference?: string;
}

/**
 * One query, stage by stage: plan → PDP → CE → fetch released fields → merge → audit. The audit
 * record is committed before anything is returned; if it cannot be, no data is returned (fail closed).
 */
export async function runQuery(deps: PipelineDeps, request: PipelineRequest): Promise<PipelineResponse> {
  const timed = async <T>(stage: string, work: () => Promise<T> | T): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      const ms = performance.now() - started;
      request.timings[stage] = (request.timings[stage] ?? 0) + ms;
      deps.metrics.stageDuration.observe({ stage }, ms / 1000);
    }
  };

  let plan: QueryPlan;
  let gate: GateResult;
  try {
    plan = await timed('plan', () =>
      withCanonicalSubjects(
        deps.planner.plan({
          document: request.document,
          source: request.source,
          operationName: request.operationName,
          variables: request.variables,
        }),
        deps.dataSubjects,
      ),
    );
    gate = await timed('gate', () => gateQuery(plan, request.consumer, deps));
  } catch (err) {
    if (err instanceof GateUnavailableError) {
      deps.logger.error({ err: err.cause, code: err.code }, err.message);
      const audited = await auditRefusal(deps, request, plan!);
      const refusal = errorResponse(
        err.httpStatus,
        err.code,
        err.message,
        audited ? { auditReference: request.reference } : undefined,
      );
      return audited ? { ...refusal, auditReference: request.reference } : refusal;
    }
    if (err instanceof NdxError && err.httpStatus < 500) {
      deps.metrics.queries.inc({ outcome: 'REJECTED' });
      return errorResponse(err.httpStatus, err.code, err.message, err.details);
    }
    throw err;
  }
  request.timings['pdp'] = gate.timings.pdpMs;
  request.timings['ce'] = gate.timings.ceMs;
  // PDP and CE each as their own stage in metrics too (the 'gate' stage is both together).
  if (gate.timings.pdpMs > 0) deps.metrics.stageDuration.observe({ stage: 'pdp' }, gate.timings.pdpMs / 1000);
  if (gate.timings.ceMs > 0) deps.metrics.stageDuration.observe({ stage: 'ce' }, gate.timings.ceMs / 1000);

  const fetched: FetchResult = await timed('fetch', () => fetchReleased(plan, gate.released, deps.providers));
  for (const call of fetched.calls) {
    request.timings[`provider.${call.providerKey}`] = call.outcome.latencyMs;
    deps.metrics.providerDuration.observe({ provider: call.providerKey }, call.outcome.latencyMs / 1000);
    deps.metrics.providerCalls.inc({
      provider: call.providerKey,
      outcome: call.outcome.ok ? 'ok' : call.outcome.failure,
    });
  }

  const delivery = newLeafDelivery();
  const merged = await timed('merge', () =>
    mergeResults(plan, {
      outcomes: fetched.outcomes,
      withheld: (leaf) => gate.withheld.get(leaf.id),
      delivery,
    }),
  );

  const records = auditRecordsFor({
    ...identityOf(request),
    operationName: request.operationName,
    plan,
    gate,
    fetch: fetched,
    delivery,
    timings: request.timings,
  });
  try {
    await timed('audit', () => Promise.all(records.map((record) => deps.audit.append(record))));
  } catch (err) {
    deps.logger.error({ err }, 'audit record could not be written; releasing nothing');
    deps.metrics.queries.inc({ outcome: 'AUDIT_UNAVAILABLE' });
    return errorResponse(
      503,
      'AUDIT_UNAVAILABLE',
      'the access could not be recorded in the audit log, so no data was released',
    );
  }
  for (const record of records) {
    deps.metrics.queries.inc({ outcome: record.outcome });
    deps.metrics.fieldDecisions.inc({ result: 'released' }, record.fieldsReleased?.length ?? 0);
    for (const w of record.fieldsWithheld ?? []) deps.metrics.fieldDecisions.inc({ result: w.reason });
  }
  return { status: 200, data: merged.data, errors: merged.errors, auditReference: request.reference };
}

function identityOf(request: PipelineRequest): AuditRequestIdentity {
  return {
    reference: request.reference,
    traceId: request.traceId,
    callerTraceparent: request.callerTraceparent,
    consumer: request.consumer,
    endUser: request.endUser,
  };
}

/**
 * A query that could not be gated is still an attempt to read a citizen's data: it is recorded (nothing
 * released, outcome ERROR). Best effort: the answer is a refusal either way. True when it was recorded.
 */
async function auditRefusal(deps: PipelineDeps, request: PipelineRequest, plan: QueryPlan): Promise<boolean> {
  const records = auditRecordsFor({
    ...identityOf(request),
    operationName: request.operationName,
    plan,
    gate: undecidedGate(plan, deps.dataSubjects),
    fetch: undefined,
    delivery: undefined,
    timings: request.timings,
  });
  deps.metrics.queries.inc({ outcome: 'ERROR' });
  try {
    await Promise.all(records.map((record) => deps.audit.append(record)));
    return true;
  } catch (err) {
    deps.logger.error({ err }, 'the refused query could not be recorded in the audit log');
    return false;
  }
}

function errorResponse(
  status: number,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): PipelineResponse {
  return {
    status,
    data: status >= 500 ? null : undefined,
    errors: [{ message, extensions: { code, ...details } }],
  };
}
