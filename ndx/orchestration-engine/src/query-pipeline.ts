import type { DocumentNode } from 'graphql';
import type { AuditWriter } from '@ndx/audit';
import type { DataSubjectRule } from '@ndx/contract';
import { NdxError, type Logger } from '@ndx/service-kit';
import { auditRecordsFor } from './audit-record.ts';
import type { Consumer } from './consumer-auth.ts';
import { fetchReleased, type FetchResult } from './fetching.ts';
import type { ConsentClient, PolicyClient } from './gate-clients.ts';
import { withCanonicalSubjects } from './data-subjects.ts';
import { gateQuery, GateUnavailableError, undecidedGate, type GateResult } from './gating.ts';
import type { OeMetrics } from './oe-metrics.ts';
import { mergeResults, type UnifiedError } from './merger.ts';
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

export interface PipelineRequest {
  document: DocumentNode;
  source: string;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
  consumer: Consumer;
  traceId: string;
  /** Stage timings in ms; the pipeline adds its own (validate is filled in before). */
  timings: Record<string, number>;
}

export interface PipelineResponse {
  status: number;
  data: Record<string, unknown> | null | undefined;
  errors: UnifiedError[];
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
      await auditRefusal(deps, request, plan!);
      return errorResponse(err.httpStatus, err.code, err.message);
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

  const merged = await timed('merge', () =>
    mergeResults(plan, { outcomes: fetched.outcomes, withheld: (leaf) => gate.withheld.get(leaf.id) }),
  );

  const records = auditRecordsFor({
    traceId: request.traceId,
    consumer: request.consumer,
    operationName: request.operationName,
    plan,
    gate,
    fetch: fetched,
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
  return { status: 200, data: merged.data, errors: merged.errors };
}

/**
 * A query that could not be gated is still an attempt to read a citizen's data: it is recorded (nothing
 * released, outcome ERROR). Best effort: the answer is a refusal either way.
 */
async function auditRefusal(deps: PipelineDeps, request: PipelineRequest, plan: QueryPlan): Promise<void> {
  const records = auditRecordsFor({
    traceId: request.traceId,
    consumer: request.consumer,
    operationName: request.operationName,
    plan,
    gate: undecidedGate(plan, deps.dataSubjects),
    fetch: undefined,
    timings: request.timings,
  });
  deps.metrics.queries.inc({ outcome: 'ERROR' });
  await Promise.all(records.map((record) => deps.audit.append(record))).catch((err: unknown) =>
    deps.logger.error({ err }, 'the refused query could not be recorded in the audit log'),
  );
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
