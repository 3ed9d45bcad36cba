import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { fieldKey, policyDecisionRequestSchema, type PolicyDecisionRequest } from '@ndx/contract';
import { NotFoundError, parseInput, BadRequestError, type Pool } from '@ndx/service-kit';
import type { CallerAuth } from './caller-auth.ts';
import { decideFields } from './decision-engine.ts';
import { computeTable, consumerDigest, parseTableId, type ParsedTableId } from './decision-table.ts';
import { checkPolicies, type CompiledPolicy } from './policy-compiler.ts';
import {
  consumerInput,
  fieldMetadataInput,
  knownFieldRefSchema,
  formatClockTime,
  grantInput,
  identifierSchema,
  type BundleContent,
  type Grant,
  type PolicyBundle,
} from './policy-model.ts';
import type { PolicyFeed } from './policy-feed.ts';
import type { PolicyRuntime } from './policy-runtime.ts';
import {
  activateVersion,
  activationHistory,
  activeVersion,
  createVersion,
  listVersions,
  loadBundle,
  rollback,
  type Actor,
} from './policy-store.ts';

const reason = z.string().trim().min(3, 'say why (at least 3 characters)').max(1000);
const changeEnvelope = z.object({
  reason,
  /** The version to change (default: the active one). */
  baseVersion: z.number().int().positive().optional(),
  /** Activate the new version at once. */
  activate: z.boolean().default(false),
});
const versionParam = z.object({ version: z.coerce.number().int().positive() });
const versionQuery = z.object({ version: z.coerce.number().int().positive().optional() });
const fieldParams = knownFieldRefSchema;
const consumerParams = z.object({ consumerId: identifierSchema });

/** The default purpose of a changed consumer: as given, else its current one while it is still one of its purposes. */
function keptDefault(
  input: { purposes: string[]; defaultPurpose?: string | null | undefined },
  current: { defaultPurpose?: string | null } | undefined,
): string | null {
  if (input.defaultPurpose !== undefined) return input.defaultPurpose;
  const kept = current?.defaultPurpose;
  return kept && input.purposes.includes(kept) ? kept : null;
}

/** A grant as stored, from the admin API's input. */
function grantOf(consumerId: string, purpose: string, input: z.infer<typeof grantInput>): Grant {
  return {
    consumerId,
    purpose,
    fields: input.fields,
    legalBasis: input.legalBasis,
    expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
    window: input.window,
  };
}
const grantParams = z.object({ consumerId: identifierSchema, purpose: identifierSchema });

/** The operator API under /admin/v1: field metadata, consumers, grants, policies, versions, dry runs. */
export function adminRoutes(
  app: FastifyInstance,
  deps: {
    auth: CallerAuth;
    runtime: PolicyRuntime;
    feed: PolicyFeed;
    pool: Pool;
    clock: () => Date;
    timeZone: string;
  },
): void {
  const { pool, runtime, feed } = deps;
  /**
   * After an activation or rollback: this process decides with the new version, and every OE following the
   * change feed dropped its older tables or stopped trusting them (its lease lapsed). Only then does the
   * admin call return, so the very next query obeys the new version.
   */
  const obeyed = async () => {
    await runtime.refresh();
    return feed.settled();
  };
  const actorOf = (request: FastifyRequest, why: string): Actor => ({
    who: request.caller?.clientId ?? request.caller?.subject ?? 'unknown',
    reason: why,
  });

  const bundleAt = async (version: number | undefined): Promise<PolicyBundle> => {
    const v = version ?? (await activeVersion(pool));
    if (v === null) throw new NotFoundError('no policy version is active');
    const bundle = await loadBundle(pool, v);
    if (!bundle) throw new NotFoundError(`policy version ${v} does not exist`);
    return bundle;
  };

  /** Stores a change as a new version, and activates it when asked. */
  const change = async (
    request: FastifyRequest,
    envelope: z.infer<typeof changeEnvelope>,
    summary: string,
    apply: (content: BundleContent) => BundleContent,
  ) => {
    const actor = actorOf(request, envelope.reason);
    const version = await createVersion(pool, {
      baseVersion: envelope.baseVersion,
      actor,
      change: summary,
      apply,
    });
    request.log.info({ version, change: summary, by: actor.who }, 'policy version created');
    if (!envelope.activate) return { version, change: summary, active: false };
    await runtime.compiled(version);
    const activation = await activateVersion(pool, { version, actor });
    return { version, change: summary, active: true, activation, feed: await obeyed() };
  };

  app.register(
    async (admin) => {
      admin.addHook('preHandler', deps.auth.operator);

      admin.get('/versions', async () => ({
        activeVersion: await activeVersion(pool),
        versions: await listVersions(pool),
      }));

      admin.get('/versions/:version', async (request) => {
        const { version } = parseInput(versionParam, request.params);
        return presentBundle(await bundleAt(version));
      });

      admin.get('/activations', async () => ({ activations: await activationHistory(pool) }));

      admin.post('/versions/:version/activate', async (request) => {
        const { version } = parseInput(versionParam, request.params);
        const body = parseInput(
          z.object({ reason, expectedActiveVersion: z.number().int().positive().optional() }),
          request.body ?? {},
        );
        await runtime.compiled(version);
        const activation = await activateVersion(pool, {
          version,
          actor: actorOf(request, body.reason),
          expectedActiveVersion: body.expectedActiveVersion,
        });
        const settled = await obeyed();
        request.log.info({ activation }, 'policy version activated');
        return { ...activation, feed: settled };
      });

      admin.post('/rollback', async (request) => {
        const body = parseInput(
          z.object({
            reason,
            toVersion: z.number().int().positive().optional(),
            expectedActiveVersion: z.number().int().positive().optional(),
          }),
          request.body ?? {},
        );
        if (body.toVersion !== undefined) await runtime.compiled(body.toVersion);
        const activation = await rollback(pool, {
          toVersion: body.toVersion,
          actor: actorOf(request, body.reason),
          expectedActiveVersion: body.expectedActiveVersion,
        });
        const settled = await obeyed();
        request.log.info({ activation }, 'policy version rolled back');
        return { ...activation, feed: settled };
      });

      admin.get('/fields', async (request) => {
        const { version } = parseInput(versionQuery, request.query);
        const bundle = await bundleAt(version);
        return { version: bundle.version, fields: bundle.fields };
      });

      admin.put('/fields/:providerKey/:schemaId/:field', async (request, reply) => {
        const ref = parseInput(fieldParams, request.params);
        const body = parseInput(changeEnvelope.extend(fieldMetadataInput.shape), request.body);
        const { reason: _r, baseVersion: _b, activate: _a, ...metadata } = body;
        const key = fieldKey(ref);
        const result = await change(request, body, `field ${key} set`, (content) => ({
          ...content,
          fields: [...content.fields.filter((f) => fieldKey(f) !== key), { ...ref, ...metadata }],
        }));
        return reply.status(201).send(result);
      });

      admin.delete('/fields/:providerKey/:schemaId/:field', async (request, reply) => {
        const ref = parseInput(fieldParams, request.params);
        const body = parseInput(changeEnvelope, request.body);
        const key = fieldKey(ref);
        const result = await change(request, body, `field ${key} removed`, (content) => {
          if (!content.fields.some((f) => fieldKey(f) === key)) throw new NotFoundError(`no field ${key}`);
          return { ...content, fields: content.fields.filter((f) => fieldKey(f) !== key) };
        });
        return reply.status(201).send(result);
      });

      admin.get('/consumers', async (request) => {
        const { version } = parseInput(versionQuery, request.query);
        const bundle = await bundleAt(version);
        return { version: bundle.version, consumers: bundle.consumers };
      });

      admin.put('/consumers/:consumerId', async (request, reply) => {
        const { consumerId } = parseInput(consumerParams, request.params);
        const body = parseInput(
          changeEnvelope
            .extend(consumerInput.shape)
            .extend({
              /** When given, the consumer's grants are replaced by these, in the same version. */
              grants: z
                .array(grantInput.extend({ purpose: identifierSchema }))
                .max(100)
                .optional(),
            })
            .refine((c) => c.defaultPurpose == null || c.purposes.includes(c.defaultPurpose), {
              message: 'defaultPurpose must be one of purposes',
              path: ['defaultPurpose'],
            })
            .refine((c) => (c.grants ?? []).every((g) => c.purposes.includes(g.purpose)), {
              message: 'every grant must be for one of the consumer’s purposes',
              path: ['grants'],
            }),
          request.body,
        );
        const grants = body.grants?.map((g) => grantOf(consumerId, g.purpose, g));
        const summary = `consumer ${consumerId} set${grants ? ` with ${grants.length} grant(s)` : ''}`;
        const result = await change(request, body, summary, (content) => ({
          ...content,
          consumers: [
            ...content.consumers.filter((c) => c.consumerId !== consumerId),
            {
              consumerId,
              displayName: body.displayName,
              member: body.member,
              purposes: body.purposes,
              defaultPurpose: keptDefault(
                body,
                content.consumers.find((c) => c.consumerId === consumerId),
              ),
            },
          ],
          grants: grants
            ? [...content.grants.filter((g) => g.consumerId !== consumerId), ...grants]
            : content.grants,
        }));
        return reply.status(201).send(result);
      });

      admin.delete('/consumers/:consumerId', async (request, reply) => {
        const { consumerId } = parseInput(consumerParams, request.params);
        const body = parseInput(changeEnvelope, request.body);
        const result = await change(request, body, `consumer ${consumerId} removed`, (content) => {
          if (!content.consumers.some((c) => c.consumerId === consumerId))
            throw new NotFoundError(`no consumer ${consumerId}`);
          return {
            ...content,
            consumers: content.consumers.filter((c) => c.consumerId !== consumerId),
            grants: content.grants.filter((g) => g.consumerId !== consumerId),
          };
        });
        return reply.status(201).send(result);
      });

      admin.get('/grants', async (request) => {
        const { version } = parseInput(versionQuery, request.query);
        const bundle = await bundleAt(version);
        return { version: bundle.version, grants: bundle.grants.map(presentGrant) };
      });

      admin.put('/grants/:consumerId/:purpose', async (request, reply) => {
        const { consumerId, purpose } = parseInput(grantParams, request.params);
        const body = parseInput(changeEnvelope.extend(grantInput.shape), request.body);
        const grant = grantOf(consumerId, purpose, body);
        const result = await change(request, body, `grant ${consumerId}/${purpose} set`, (content) => ({
          ...content,
          grants: [
            ...content.grants.filter((g) => !(g.consumerId === consumerId && g.purpose === purpose)),
            grant,
          ],
        }));
        return reply.status(201).send(result);
      });

      admin.delete('/grants/:consumerId/:purpose', async (request, reply) => {
        const { consumerId, purpose } = parseInput(grantParams, request.params);
        const body = parseInput(changeEnvelope, request.body);
        const result = await change(request, body, `grant ${consumerId}/${purpose} removed`, (content) => {
          const matches = (g: Grant) => g.consumerId === consumerId && g.purpose === purpose;
          if (!content.grants.some(matches)) throw new NotFoundError(`no grant ${consumerId}/${purpose}`);
          return { ...content, grants: content.grants.filter((g) => !matches(g)) };
        });
        return reply.status(201).send(result);
      });

      admin.get('/policies', async (request) => {
        const { version } = parseInput(versionQuery, request.query);
        const bundle = await bundleAt(version);
        return {
          version: bundle.version,
          policyIds: Object.keys(checkPolicies(bundle.policies).policies),
          policies: bundle.policies,
        };
      });

      admin.put('/policies', async (request, reply) => {
        const body = parseInput(
          changeEnvelope.extend({ policies: z.string().min(1).max(500_000) }),
          request.body,
        );
        const result = await change(request, body, 'policies replaced', (content) => ({
          ...content,
          policies: body.policies,
        }));
        return reply.status(201).send(result);
      });

      admin.post('/policies/validate', async (request) => {
        const body = parseInput(z.object({ policies: z.string().min(1).max(500_000) }), request.body);
        const { policies, problems } = checkPolicies(body.policies);
        return { valid: problems.length === 0, policyIds: Object.keys(policies), problems };
      });

      admin.post('/dry-run', async (request) => {
        const body = parseInput(
          z.object({
            version: z.number().int().positive().optional(),
            at: z.iso.datetime({ offset: true }).optional(),
            /** A decision table id from an audit record (`table:<id>`): its version, and its instant unless `at`. */
            tableId: z.string().max(140).optional(),
            request: policyDecisionRequestSchema,
          }),
          request.body,
        );
        const table =
          body.tableId === undefined ? undefined : tableOf(body.tableId, body.request, body.version);
        const version = table?.version ?? body.version ?? (await activeVersion(pool));
        if (version === null) throw new NotFoundError('no policy version is active');
        const compiled = await runtime.compiled(version);
        const at = body.at ? new Date(body.at) : (table?.validFrom ?? deps.clock());
        const result = decideFields(compiled, body.request, at, deps.timeZone, true);
        return {
          policyVersion: version,
          at: at.toISOString(),
          context: result.context,
          fields: result.fields.map((f, i) => ({ ...f, explain: result.explanations?.[i] ?? {} })),
          ...(table ? { table: presentTable(compiled, body.request, table, deps.timeZone) } : {}),
        };
      });
    },
    { prefix: '/admin/v1' },
  );
}

/** The version and instant a table id names, checked against the dry run's request. */
function tableOf(
  tableId: string,
  request: PolicyDecisionRequest,
  version: number | undefined,
): ParsedTableId {
  const parsed = parseTableId(tableId.replace(/^table:/, ''));
  if (!parsed) throw new BadRequestError(`${tableId} is not a decision table id`);
  if (version !== undefined && version !== parsed.version)
    throw new BadRequestError(`table ${tableId} was compiled from version ${parsed.version}, not ${version}`);
  if (parsed.digest !== consumerDigest(request.consumerId, request.purpose))
    throw new BadRequestError(
      `table ${tableId} is not the table of ${request.consumerId}/${request.purpose}`,
    );
  if ((parsed.subject === 'present') !== Boolean(request.subjectId))
    throw new BadRequestError(
      `table ${tableId} is for requests ${parsed.subject === 'present' ? 'with' : 'without'} a data subject`,
    );
  return parsed;
}

/** The table recomputed from its id: when it was valid, and its decisions of the requested fields. */
function presentTable(
  compiled: CompiledPolicy,
  request: PolicyDecisionRequest,
  parsed: ParsedTableId,
  timeZone: string,
) {
  const table = computeTable(
    compiled,
    request.consumerId,
    request.purpose,
    parsed.subject,
    parsed.validFrom,
    timeZone,
  );
  const keys = new Set(request.fields.map(fieldKey));
  return {
    tableId: table.tableId,
    validFrom: table.validFrom,
    validUntil: table.validUntil,
    fields: table.fields.filter((f) => keys.has(fieldKey(f))),
    perRequestFields: table.perRequestFields.filter((f) => keys.has(fieldKey(f))),
  };
}

function presentGrant(g: Grant) {
  return {
    ...g,
    window: g.window ? { start: formatClockTime(g.window.start), end: formatClockTime(g.window.end) } : null,
  };
}

function presentBundle(bundle: PolicyBundle) {
  return { ...bundle, grants: bundle.grants.map(presentGrant) };
}
