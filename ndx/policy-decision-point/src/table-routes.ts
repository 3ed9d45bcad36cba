import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  decisionTablePaths,
  decisionTableQuerySchema,
  policyChangesQuerySchema,
  type DecisionTable,
  type PolicyChange,
} from '@ndx/contract';
import { parseInput } from '@ndx/service-kit';
import type { CallerAuth } from './caller-auth.ts';
import type { createTableCache } from './decision-table.ts';
import type { PolicyFeed } from './policy-feed.ts';
import type { PolicyRuntime } from './policy-runtime.ts';

const tableParams = z.object({ consumerId: z.string().min(1).max(200), purpose: z.string().min(1).max(200) });

/**
 * GET /v1/decision-tables/{consumerId}/{purpose}: the active version's decision table (same callers as
 * POST /v1/decisions). GET /v1/policy-changes: the change feed the OE long-polls (see policy-feed.ts).
 */
export function tableRoutes(
  app: FastifyInstance,
  deps: {
    auth: CallerAuth;
    runtime: PolicyRuntime;
    feed: PolicyFeed;
    tables: ReturnType<typeof createTableCache>;
    clock: () => Date;
    timeZone: string;
  },
): void {
  app.get(
    decisionTablePaths.table,
    { preHandler: deps.auth.decisionCaller },
    async (request): Promise<DecisionTable> => {
      const { consumerId, purpose } = parseInput(tableParams, request.params);
      const { subject } = parseInput(decisionTableQuerySchema, request.query);
      const compiled = deps.runtime.active();
      const table = deps.tables.tableFor(compiled, consumerId, purpose, subject, deps.clock(), deps.timeZone);
      request.log.debug(
        { tableId: table.tableId, consumerId, purpose, validUntil: table.validUntil },
        'decision table',
      );
      return table;
    },
  );

  app.get(
    decisionTablePaths.changes,
    { preHandler: deps.auth.decisionCaller },
    async (request, reply): Promise<PolicyChange> => {
      const { subscriber, version } = parseInput(policyChangesQuerySchema, request.query);
      deps.runtime.active();
      const closed = new Promise<void>((resolve) => reply.raw.once('close', () => resolve()));
      return deps.feed.poll(subscriber, version, closed);
    },
  );
}
