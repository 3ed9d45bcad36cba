import type pg from 'pg';
import type { FieldRef } from '@ndx/contract';
import { ConflictError, NotFoundError, withTransaction, type Pool } from '@ndx/service-kit';
import { checkBundle, PolicyInvalidError } from './policy-compiler.ts';
import type { BundleContent, Classification, PolicyBundle } from './policy-model.ts';

/** PostgreSQL access for policy versions, their content, activation and history (database ndx_policy). */

export const ACTIVATION_CHANNEL = 'ndx_policy_activated';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface VersionSummary {
  version: number;
  basedOn: number | null;
  createdBy: string;
  createdAt: string;
  reason: string;
  change: string;
  active: boolean;
}

export interface Activation {
  id: number;
  version: number;
  previousVersion: number | null;
  kind: 'activate' | 'rollback' | 'seed';
  activatedBy: string;
  activatedAt: string;
  reason: string;
}

export interface Actor {
  who: string;
  reason: string;
}

export async function activeVersion(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ active_version: number | null }>(
    'SELECT active_version FROM policy_state',
  );
  return rows[0]?.active_version ?? null;
}

export async function loadBundle(db: Queryable, version: number): Promise<PolicyBundle | undefined> {
  const head = await db.query<{ cedar_policies: string }>(
    'SELECT cedar_policies FROM policy_versions WHERE version = $1',
    [version],
  );
  if (head.rows.length === 0) return undefined;
  // One after the other: db may be a single transaction client.
  const fields = await db.query<{
    provider_key: string;
    schema_id: string;
    field: string;
    display_name: string;
    description: string;
    classification: Classification;
    owner: string;
    consent_required: boolean;
  }>('SELECT * FROM field_metadata WHERE version = $1 ORDER BY provider_key, schema_id, field', [version]);
  const consumers = await db.query<{
    consumer_id: string;
    display_name: string;
    member: string;
    purposes: string[];
    default_purpose: string | null;
  }>('SELECT * FROM consumers WHERE version = $1 ORDER BY consumer_id', [version]);
  const grants = await db.query<{
    consumer_id: string;
    purpose: string;
    fields: FieldRef[];
    legal_basis: string;
    expires_at: Date | null;
    window_start: number | null;
    window_end: number | null;
  }>('SELECT * FROM consumer_grants WHERE version = $1 ORDER BY consumer_id, purpose', [version]);
  return {
    version,
    policies: head.rows[0]!.cedar_policies,
    fields: fields.rows.map((r) => ({
      providerKey: r.provider_key,
      schemaId: r.schema_id,
      field: r.field,
      displayName: r.display_name,
      description: r.description,
      classification: r.classification,
      owner: r.owner,
      consentRequired: r.consent_required,
    })),
    consumers: consumers.rows.map((r) => ({
      consumerId: r.consumer_id,
      displayName: r.display_name,
      member: r.member,
      purposes: r.purposes,
      defaultPurpose: r.default_purpose,
    })),
    grants: grants.rows.map((r) => ({
      consumerId: r.consumer_id,
      purpose: r.purpose,
      fields: r.fields,
      legalBasis: r.legal_basis,
      expiresAt: r.expires_at ? r.expires_at.toISOString() : null,
      window:
        r.window_start === null || r.window_end === null
          ? null
          : { start: r.window_start, end: r.window_end },
    })),
  };
}

export async function listVersions(db: Queryable, limit = 200): Promise<VersionSummary[]> {
  const { rows } = await db.query<{
    version: number;
    based_on: number | null;
    created_by: string;
    created_at: Date;
    reason: string;
    change: string;
    active: boolean;
  }>(
    `SELECT v.version, v.based_on, v.created_by, v.created_at, v.reason, v.change,
            v.version = s.active_version AS active
       FROM policy_versions v CROSS JOIN policy_state s
      ORDER BY v.version DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    version: r.version,
    basedOn: r.based_on,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    reason: r.reason,
    change: r.change,
    active: r.active === true,
  }));
}

export async function activationHistory(db: Queryable, limit = 100): Promise<Activation[]> {
  const { rows } = await db.query<{
    id: string;
    version: number;
    previous_version: number | null;
    kind: Activation['kind'];
    activated_by: string;
    activated_at: Date;
    reason: string;
  }>('SELECT * FROM policy_activations ORDER BY id DESC LIMIT $1', [limit]);
  return rows.map((r) => ({
    id: Number(r.id),
    version: r.version,
    previousVersion: r.previous_version,
    kind: r.kind,
    activatedBy: r.activated_by,
    activatedAt: r.activated_at.toISOString(),
    reason: r.reason,
  }));
}

/**
 * Creates a new version from a base version (default: the active one) changed by `change`.
 * The result is checked (Cedar validation, grants naming known consumers and fields) before it is
 * stored; version numbers are allocated under a table lock, so concurrent changes never collide.
 */
export async function createVersion(
  pool: Pool,
  options: {
    baseVersion?: number | undefined;
    actor: Actor;
    change: string;
    apply: (content: BundleContent) => BundleContent;
  },
): Promise<number> {
  return withTransaction(pool, async (client) => {
    await client.query('LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE');
    const baseVersion = options.baseVersion ?? (await activeVersion(client));
    if (baseVersion === null) throw new NotFoundError('there is no active version to base a change on');
    const base = await loadBundle(client, baseVersion);
    if (!base) throw new NotFoundError(`policy version ${baseVersion} does not exist`);
    const { version: _ignored, ...baseContent } = base;
    const content = options.apply(baseContent);
    const problems = checkBundle(content);
    if (problems.length > 0) throw new PolicyInvalidError('the change was rejected', problems);
    const { rows } = await client.query<{ next: number }>(
      'SELECT COALESCE(max(version), 0) + 1 AS next FROM policy_versions',
    );
    const version = rows[0]!.next;
    await insertContent(client, version, baseVersion, content, options.actor, options.change);
    return version;
  });
}

async function insertContent(
  client: pg.PoolClient,
  version: number,
  basedOn: number | null,
  content: BundleContent,
  actor: Actor,
  change: string,
): Promise<void> {
  await client.query(
    `INSERT INTO policy_versions (version, based_on, cedar_policies, created_by, reason, change)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [version, basedOn, content.policies, actor.who, actor.reason, change],
  );
  await client.query(
    `INSERT INTO field_metadata
       SELECT $1, x.* FROM jsonb_to_recordset($2::jsonb) AS x(provider_key text, schema_id text, field text,
         display_name text, description text, classification text, owner text, consent_required boolean)`,
    [
      version,
      JSON.stringify(
        content.fields.map((f) => ({
          provider_key: f.providerKey,
          schema_id: f.schemaId,
          field: f.field,
          display_name: f.displayName,
          description: f.description,
          classification: f.classification,
          owner: f.owner,
          consent_required: f.consentRequired,
        })),
      ),
    ],
  );
  await client.query(
    `INSERT INTO consumers (version, consumer_id, display_name, member, purposes, default_purpose)
       SELECT $1, x.consumer_id, x.display_name, x.member, ARRAY(SELECT jsonb_array_elements_text(x.purposes)),
              x.default_purpose
         FROM jsonb_to_recordset($2::jsonb)
           AS x(consumer_id text, display_name text, member text, purposes jsonb, default_purpose text)`,
    [
      version,
      JSON.stringify(
        content.consumers.map((c) => ({
          consumer_id: c.consumerId,
          display_name: c.displayName,
          member: c.member,
          purposes: c.purposes,
          default_purpose: c.defaultPurpose ?? null,
        })),
      ),
    ],
  );
  await client.query(
    `INSERT INTO consumer_grants
       SELECT $1, x.* FROM jsonb_to_recordset($2::jsonb) AS x(consumer_id text, purpose text, fields jsonb,
         legal_basis text, expires_at timestamptz, window_start smallint, window_end smallint)`,
    [
      version,
      JSON.stringify(
        content.grants.map((g) => ({
          consumer_id: g.consumerId,
          purpose: g.purpose,
          fields: g.fields.map((f) => ({ providerKey: f.providerKey, schemaId: f.schemaId, field: f.field })),
          legal_basis: g.legalBasis,
          expires_at: g.expiresAt,
          window_start: g.window?.start ?? null,
          window_end: g.window?.end ?? null,
        })),
      ),
    ],
  );
}

/**
 * Makes `version` the active one, atomically: the state row is locked, so concurrent activations
 * are serialised and each history record names the version it replaced. With expectedActiveVersion,
 * the activation fails (409) if another one got there first. Other PDP processes are notified.
 */
export async function activateVersion(
  pool: Pool,
  options: {
    version: number;
    actor: Actor;
    expectedActiveVersion?: number | undefined;
    kind?: 'activate' | 'rollback';
  },
): Promise<Activation> {
  return withTransaction(pool, async (client) => {
    const current = await lockState(client);
    if (options.expectedActiveVersion !== undefined && options.expectedActiveVersion !== current) {
      throw new ConflictError(
        `the active version is ${current}, not ${options.expectedActiveVersion}; someone else activated first`,
        { activeVersion: current },
      );
    }
    return recordActivation(client, options.version, current, options.kind ?? 'activate', options.actor);
  });
}

/**
 * Rolls back in one call: to `toVersion`, or by default to the version that was active before
 * the current one was activated.
 */
export async function rollback(
  pool: Pool,
  options: { toVersion?: number | undefined; actor: Actor; expectedActiveVersion?: number | undefined },
): Promise<Activation> {
  return withTransaction(pool, async (client) => {
    const current = await lockState(client);
    if (options.expectedActiveVersion !== undefined && options.expectedActiveVersion !== current) {
      throw new ConflictError(`the active version is ${current}, not ${options.expectedActiveVersion}`, {
        activeVersion: current,
      });
    }
    let target = options.toVersion;
    if (target === undefined) {
      const { rows } = await client.query<{ previous_version: number | null }>(
        'SELECT previous_version FROM policy_activations WHERE version = $1 ORDER BY id DESC LIMIT 1',
        [current],
      );
      const previous = rows[0]?.previous_version ?? null;
      if (previous === null)
        throw new ConflictError(`version ${current} has no earlier active version to roll back to`);
      target = previous;
    }
    return recordActivation(client, target, current, 'rollback', options.actor);
  });
}

async function lockState(client: pg.PoolClient): Promise<number | null> {
  const { rows } = await client.query<{ active_version: number | null }>(
    'SELECT active_version FROM policy_state FOR UPDATE',
  );
  return rows[0]?.active_version ?? null;
}

async function recordActivation(
  client: pg.PoolClient,
  version: number,
  previous: number | null,
  kind: Activation['kind'],
  actor: Actor,
): Promise<Activation> {
  const exists = await client.query('SELECT 1 FROM policy_versions WHERE version = $1', [version]);
  if (exists.rows.length === 0) throw new NotFoundError(`policy version ${version} does not exist`);
  await client.query('UPDATE policy_state SET active_version = $1, activated_at = now(), activated_by = $2', [
    version,
    actor.who,
  ]);
  const { rows } = await client.query<{ id: string; activated_at: Date }>(
    `INSERT INTO policy_activations (version, previous_version, kind, activated_by, reason)
     VALUES ($1, $2, $3, $4, $5) RETURNING id, activated_at`,
    [version, previous, kind, actor.who, actor.reason],
  );
  await client.query('SELECT pg_notify($1, $2)', [ACTIVATION_CHANNEL, String(version)]);
  return {
    id: Number(rows[0]!.id),
    version,
    previousVersion: previous,
    kind,
    activatedBy: actor.who,
    activatedAt: rows[0]!.activated_at.toISOString(),
    reason: actor.reason,
  };
}

/**
 * Stores the seed as version 1 and activates it, when the store is empty. Idempotent and safe
 * when several processes start at once (the version's primary key decides who seeds).
 */
export async function seedIfEmpty(pool: Pool, seed: BundleContent): Promise<boolean> {
  return withTransaction(pool, async (client) => {
    await client.query('LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE');
    const { rows } = await client.query('SELECT 1 FROM policy_versions LIMIT 1');
    if (rows.length > 0) return false;
    const problems = checkBundle(seed);
    if (problems.length > 0) throw new PolicyInvalidError('the seed is invalid', problems);
    const actor = { who: 'seed', reason: 'Farajaland seed' };
    await insertContent(
      client,
      1,
      null,
      seed,
      actor,
      'seed: Farajaland field metadata, consumers, grants and policies',
    );
    await client.query('SELECT active_version FROM policy_state FOR UPDATE');
    await recordActivation(client, 1, null, 'seed', actor);
    return true;
  });
}
