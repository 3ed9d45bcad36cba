/**
 * Adding a root field about a person needs only the unified schema, fl-config.json and (for new provider
 * fields) the PDP's field metadata: no code. Here `birthRecord(nic:)`, served by RGD alone from fields
 * that already have metadata, is added in a temporary copy of ndx/schema.graphql and fl-config.json; a
 * second OE, in-process against the real stack, gates it per citizen like personInfo.
 */
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords, type AuditRecord } from '@ndx/audit';
import { withDatabase } from '@ndx/service-kit/postgres';
import { testLogger } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { decideInPortal } from './support/consent-portal.ts';
import { repoRoot, startTestStack, type TestStack } from './support/test-stack.ts';

type Env = Record<string, string | undefined>;
type Json = Record<string, unknown>;

const citizen = (nic: string) => demoCitizens.find((c) => c.nic === nic)!;
const amara = citizen('199560201234');
const bwalya = citizen('852321234V');
const esther = citizen('199066604567');
/** The stack seeds an active passport consent for Daliso (CONSENT_DEMO_CITIZEN). */
const daliso = citizen('783345678V');

/** The new root field and its type, appended to a copy of ndx/schema.graphql. */
const BIRTH_RECORD_SDL = `
extend type Query {
  "A citizen's birth record (RGD)."
  birthRecord("The citizen's NIC." nic: ID!): BirthRecord
}

"A birth registration, as the birth registry (RGD) holds it."
type BirthRecord {
  name: String @sourceInfo(providerKey: "rgd", schemaId: "abc-212", providerField: "getPersonInfo.fullName")
  dateOfBirth: String
    @sourceInfo(providerKey: "rgd", schemaId: "abc-212", providerField: "getPersonInfo.dateOfBirth")
  sex: String @sourceInfo(providerKey: "rgd", schemaId: "abc-212", providerField: "getPersonInfo.sex")
}
`;
/** The RGD provider fields behind BirthRecord, as the PDP, CE and audit name them. */
const RGD_FIELDS = ['getPersonInfo.fullName', 'getPersonInfo.dateOfBirth', 'getPersonInfo.sex'];
const FIELDS = 'name dateOfBirth sex';

interface FlConfigJson {
  providers: { schemaFile?: string }[];
  argMappings: Json[];
  dataSubjects: Json[];
}

interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; consentId?: string; consentPortalUrl?: string };
}
interface Answer {
  status: number;
  traceId: string;
  data?: Record<string, Record<string, unknown> | null> | null;
  errors?: GraphQLError[];
}

let t: TestStack;
let passportToken: string;
let admin: pg.Pool;
let auditDatabaseName: string;
let auditPool: pg.Pool;
let workDir: string;
let schemaPath: string;
let baseFlConfig: FlConfigJson;
const cleanups: (() => Promise<unknown>)[] = [];

/** fl-config.json with birthRecord added: its argument mapped to RGD and (unless left out) its data-subject rule. */
function flConfigWithBirthRecord(options: { dataSubjectRule?: Json | null } = {}): FlConfigJson {
  const config = structuredClone(baseFlConfig);
  config.argMappings.push({
    unifiedArg: 'birthRecord.nic',
    providerKey: 'rgd',
    providerArg: 'getPersonInfo.nic',
  });
  const rule =
    options.dataSubjectRule === undefined
      ? { rootField: 'birthRecord', argument: 'nic', identifier: 'nic' }
      : options.dataSubjectRule;
  if (rule) config.dataSubjects.push(rule);
  return config;
}

async function writeFlConfig(name: string, config: FlConfigJson): Promise<string> {
  const path = join(workDir, name);
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}

function oeEnv(flConfigPath: string): Env {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: withDatabase(t.stack.postgresAdminUrl, auditDatabaseName),
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: t.url('policy-decision-point'),
    CONSENT_ENGINE_URL: t.url('consent-engine'),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: t.url('drp-api-adapter'),
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
    UNIFIED_SCHEMA_PATH: schemaPath,
    FL_CONFIG_PATH: flConfigPath,
  };
}

/** A second OE, in-process, on the temporary schema and fl-config, wired to the real stack. */
async function startOe(flConfigPath: string): Promise<string> {
  const env = oeEnv(flConfigPath);
  const app = await buildApp(readConfig(env), testLogger('orchestration-engine'), env);
  cleanups.push(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function query(oeUrl: string, text: string, variables: Json = {}): Promise<Answer> {
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${passportToken}` },
    body: JSON.stringify({ query: text, variables }),
  });
  const traceId = (response.headers.get('traceparent') ?? '').split('-')[1] ?? '';
  return { status: response.status, traceId, ...((await response.json()) as object) };
}

const birthRecordOf = (citizen: (typeof demoCitizens)[number]) => ({
  name: citizen.birthName,
  dateOfBirth: citizen.dateOfBirth,
  sex: citizen.sex,
});
const withheldRecord = { name: null, dateOfBirth: null, sex: null };

/** The errors of one response key's fields: `field → code`. */
const codesUnder = (answer: Answer, responseKey: string) =>
  Object.fromEntries(
    (answer.errors ?? [])
      .filter((e) => e.path?.[0] === responseKey)
      .map((e) => [e.path!.slice(1).join('.'), e.extensions.code]),
  );
const allCodes = (code: string) => ({ name: code, dateOfBirth: code, sex: code });

/** The single consent request behind a response key's CONSENT_REQUIRED errors. */
function pendingConsentOf(
  answer: Answer,
  responseKey: string,
): { consentId: string; consentPortalUrl: string } {
  const pending = (answer.errors ?? []).filter(
    (e) => e.path?.[0] === responseKey && e.extensions.code === 'CONSENT_REQUIRED',
  );
  const ids = new Set(pending.map((e) => e.extensions.consentId));
  expect(ids.size).toBe(1);
  const { consentId, consentPortalUrl } = pending[0]!.extensions;
  expect(consentPortalUrl).toMatch(new RegExp(`/consent/${consentId}$`));
  return { consentId: consentId!, consentPortalUrl: consentPortalUrl! };
}

async function approve(consentPortalUrl: string, citizen: (typeof demoCitizens)[number]) {
  return decideInPortal({
    consentPortalUrl,
    redirectUri: `${t.url('passport-app')}/consent/return`,
    nic: citizen.nic,
    password: citizen.password,
    decision: 'approve-all',
  });
}

async function auditRecordOf(nic: string, traceId: string): Promise<AuditRecord> {
  for await (const record of exportCitizenRecords(auditPool, nic)) {
    if (record.traceId === traceId) return record;
  }
  throw new Error(`no audit record of ${nic} with trace id ${traceId}`);
}
const rgdFieldsWith = (reason?: string) =>
  RGD_FIELDS.map((field) => ({
    providerKey: 'rgd',
    schemaId: 'abc-212',
    field,
    ...(reason ? { reason } : {}),
  }));

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  admin = new pg.Pool({ connectionString: t.stack.postgresAdminUrl, max: 2 });
  auditDatabaseName = `oe_new_root_${Math.random().toString(36).slice(2, 8)}`;
  await admin.query(`CREATE DATABASE ${auditDatabaseName}`);
  auditPool = new pg.Pool({
    connectionString: withDatabase(t.stack.postgresAdminUrl, auditDatabaseName),
    max: 2,
  });

  workDir = await mkdtemp(join(tmpdir(), 'oe-new-root-'));
  schemaPath = join(workDir, 'schema.graphql');
  const sdl = await readFile(join(repoRoot, 'ndx', 'schema.graphql'), 'utf8');
  await writeFile(schemaPath, `${sdl}\n${BIRTH_RECORD_SDL}`);
  baseFlConfig = JSON.parse(await readFile(join(repoRoot, 'fl-config.json'), 'utf8')) as FlConfigJson;
  for (const provider of baseFlConfig.providers) {
    if (provider.schemaFile) provider.schemaFile = join(repoRoot, provider.schemaFile);
  }
}, 240_000);

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

afterAll(async () => {
  await auditPool?.end();
  await admin?.end();
  await t?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('a new root field about a person, added by configuration alone', () => {
  const ONE = `query One($nic: ID!) { birthRecord(nic: $nic) { ${FIELDS} } }`;
  const TWO = `query Two($a: ID!, $b: ID!) {
    e: birthRecord(nic: $a) { ${FIELDS} }
    b: birthRecord(nic: $b) { ${FIELDS} }
  }`;

  it('is gated per citizen: without consent every field is CONSENT_REQUIRED; once the citizen approves in the portal, their own record is released', async () => {
    const oe = await startOe(await writeFlConfig('fl-config.json', flConfigWithBirthRecord()));

    const refused = await query(oe, ONE, { nic: amara.nic });
    expect(refused.status).toBe(200);
    expect(refused.data).toEqual({ birthRecord: withheldRecord });
    expect(codesUnder(refused, 'birthRecord')).toEqual(allCodes('CONSENT_REQUIRED'));
    expect(refused.errors).toHaveLength(3);
    const pending = pendingConsentOf(refused, 'birthRecord');
    const refusedRecord = await auditRecordOf(amara.nic, refused.traceId);
    expect(refusedRecord).toMatchObject({
      citizenId: amara.nic,
      outcome: 'CONSENT_REQUIRED',
      consentId: null,
      consentRequested: pending.consentId,
      fieldsReleased: [],
    });
    expect(refusedRecord.fieldsWithheld).toEqual(rgdFieldsWith('CONSENT_REQUIRED'));

    // The consent request is Amara's: she signs in to the portal and approves it.
    expect(await approve(pending.consentPortalUrl, amara)).toMatchObject({
      status: 'ACTIVE',
      consentId: pending.consentId,
    });

    const released = await query(oe, ONE, { nic: amara.nic });
    expect(released.errors).toBeUndefined();
    expect(released.data).toEqual({ birthRecord: birthRecordOf(amara) });
    const releasedRecord = await auditRecordOf(amara.nic, released.traceId);
    expect(releasedRecord).toMatchObject({
      citizenId: amara.nic,
      outcome: 'SUCCESS',
      consentId: pending.consentId,
      consentRequested: null,
    });
    expect(releasedRecord.fieldsReleased).toEqual(
      rgdFieldsWith().map((f) => ({ ...f, allowedBy: { basis: 'consent', consentId: pending.consentId } })),
    );
  });

  it('two citizens under aliases are each gated by their own consent', async () => {
    const oe = await startOe(await writeFlConfig('fl-config.json', flConfigWithBirthRecord()));
    // Neither has consented yet. Bwalya's NIC is typed the way people type it.
    const variables = { a: esther.nic, b: ' 852 321 234v ' };

    const none = await query(oe, TWO, variables);
    expect(none.status).toBe(200);
    expect(none.data).toEqual({ e: withheldRecord, b: withheldRecord });
    expect(codesUnder(none, 'e')).toEqual(allCodes('CONSENT_REQUIRED'));
    expect(codesUnder(none, 'b')).toEqual(allCodes('CONSENT_REQUIRED'));
    const forEsther = pendingConsentOf(none, 'e');
    const forBwalya = pendingConsentOf(none, 'b');
    expect(forEsther.consentId).not.toBe(forBwalya.consentId);

    // Esther answers her own request (the portal lets only the data subject answer).
    expect(await approve(forEsther.consentPortalUrl, esther)).toMatchObject({
      status: 'ACTIVE',
      consentId: forEsther.consentId,
    });
    const one = await query(oe, TWO, variables);
    expect(one.data).toEqual({ e: birthRecordOf(esther), b: withheldRecord });
    expect(codesUnder(one, 'e')).toEqual({});
    expect(codesUnder(one, 'b')).toEqual(allCodes('CONSENT_REQUIRED'));
    expect(pendingConsentOf(one, 'b').consentId).toBe(forBwalya.consentId);
    // One audit record per citizen, each with that citizen's fields.
    expect(await auditRecordOf(esther.nic, one.traceId)).toMatchObject({
      outcome: 'SUCCESS',
      fieldsReleased: rgdFieldsWith(),
      fieldsWithheld: [],
    });
    expect(await auditRecordOf(bwalya.nic, one.traceId)).toMatchObject({
      outcome: 'CONSENT_REQUIRED',
      consentId: null,
      consentRequested: forBwalya.consentId,
      fieldsReleased: [],
      fieldsWithheld: rgdFieldsWith('CONSENT_REQUIRED'),
    });

    // Bwalya answers his; each citizen's record is then released, each with its own values.
    expect(await approve(forBwalya.consentPortalUrl, bwalya)).toMatchObject({
      status: 'ACTIVE',
      consentId: forBwalya.consentId,
    });
    const both = await query(oe, TWO, variables);
    expect(both.errors).toBeUndefined();
    expect(both.data).toEqual({ e: birthRecordOf(esther), b: birthRecordOf(bwalya) });
  });

  it('without its data-subject rule the same root field names no citizen, so its personal fields are refused', async () => {
    // Daliso's consent (seeded by the stack) releases his birth record under the rule...
    const withRule = await startOe(await writeFlConfig('fl-config.json', flConfigWithBirthRecord()));
    const released = await query(withRule, ONE, { nic: daliso.nic });
    expect(released.errors).toBeUndefined();
    expect(released.data).toEqual({ birthRecord: birthRecordOf(daliso) });

    // ...but a root field no rule names concerns no one: there is no citizen whose consent could count.
    const oe = await startOe(
      await writeFlConfig('no-rule.json', flConfigWithBirthRecord({ dataSubjectRule: null })),
    );
    const answer = await query(oe, ONE, { nic: daliso.nic });
    expect(answer.status).toBe(200);
    expect(answer.data).toEqual({ birthRecord: withheldRecord });
    expect(codesUnder(answer, 'birthRecord')).toEqual(allCodes('FORBIDDEN'));
  });

  it('the OE refuses to start when a data-subject rule names a root field or an argument the unified schema lacks', async () => {
    const attempts: [Json, RegExp][] = [
      [
        { rootField: 'birthRecords', argument: 'nic', identifier: 'nic' },
        /dataSubjects\[1\] \(birthRecords\(nic:\)\): the unified schema has no root field Query\.birthRecords/,
      ],
      [
        { rootField: 'birthRecord', argument: 'id', identifier: 'nic' },
        /dataSubjects\[1\] \(birthRecord\(id:\)\): Query\.birthRecord has no argument "id"/,
      ],
    ];
    for (const [rule, message] of attempts) {
      const path = await writeFlConfig('bad-rule.json', flConfigWithBirthRecord({ dataSubjectRule: rule }));
      const env = oeEnv(path);
      const outcome = await buildApp(readConfig(env), testLogger('orchestration-engine'), env).then(
        async (app) => {
          await app.close();
          return 'started';
        },
        (err: Error) => `${err.name}: ${err.message}`,
      );
      expect(outcome).toMatch(/^ConfigError: fl-config\.json dataSubjects do not match the unified schema/);
      expect(outcome).toMatch(message);
    }
  });
});
