import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionTableSchema, policyChangeSchema } from '@ndx/contract';
import { farajalandSeed } from '../src/seed-farajaland.ts';
import { call, startHarness, type Harness } from './support/pdp-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('pdp_tables');
});
afterAll(async () => {
  await h?.stop();
});

const TABLE = '/v1/decision-tables/passport-app/passport-application?subject=present';
const catalogue = farajalandSeed.fields.map((f) => ({
  providerKey: f.providerKey,
  schemaId: f.schemaId,
  field: f.field,
}));
const passport = { consumerId: 'passport-app', purpose: 'passport-application', subjectId: '199012345678' };

describe('GET /v1/decision-tables/{consumerId}/{purpose}', () => {
  it('answers the OE with every catalogue field decided as POST /v1/decisions decides it, in the contract’s shape', async () => {
    const { status, body } = await call(h.pdp.url, TABLE, { token: h.tokens.oe });
    expect(status).toBe(200);
    expect(decisionTableSchema.parse(body)).toEqual(body);
    const decided = await call(h.pdp.url, '/v1/decisions', {
      token: h.tokens.oe,
      body: {
        ...passport,
        fields: body.fields.map((f: { providerKey: string; schemaId: string; field: string }) => ({
          providerKey: f.providerKey,
          schemaId: f.schemaId,
          field: f.field,
        })),
      },
    });
    expect(body.fields).toHaveLength(catalogue.length);
    expect(body.fields).toEqual(decided.body.fields);
    expect(body).toMatchObject({ policyVersion: 1, subject: 'present', perRequestFields: [] });
  });

  it('answers only the clients that may ask for decisions: 401 without a valid PDP token, 403 for others', async () => {
    expect((await call(h.pdp.url, TABLE)).status).toBe(401);
    expect((await call(h.pdp.url, TABLE, { token: h.tokens.consumer })).status).toBe(401);
    expect((await call(h.pdp.url, TABLE, { token: h.tokens.stranger })).status).toBe(403);
    const feed = '/v1/policy-changes?subscriber=oe-test-subscriber';
    expect((await call(h.pdp.url, feed)).status).toBe(401);
    expect((await call(h.pdp.url, feed, { token: h.tokens.stranger })).status).toBe(403);
    const first = await call(h.pdp.url, feed, { token: h.tokens.oe });
    expect(first.status).toBe(200);
    expect(policyChangeSchema.parse(first.body)).toEqual({ activeVersion: 1, leaseMs: 3_000, holdMs: 1_000 });
  });

  it('can be recomputed by the dry run from its id, which refuses a request of another consumer', async () => {
    const { body: table } = await call(h.pdp.url, TABLE, { token: h.tokens.oe });
    const fields = [catalogue[0]!, catalogue[5]!];
    const dry = await call(h.pdp.url, '/admin/v1/dry-run', {
      token: h.tokens.operator,
      body: { tableId: `table:${table.tableId}`, request: { ...passport, fields } },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.at).toBe(table.validFrom);
    expect(dry.body.table).toEqual({
      tableId: table.tableId,
      validFrom: table.validFrom,
      validUntil: table.validUntil,
      fields: table.fields.filter((f: { field: string }) => fields.some((r) => r.field === f.field)),
      perRequestFields: [],
    });
    const other = await call(h.pdp.url, '/admin/v1/dry-run', {
      token: h.tokens.operator,
      body: {
        tableId: table.tableId,
        request: { ...passport, consumerId: 'traffic-police-app', purpose: 'traffic-enforcement', fields },
      },
    });
    expect(other.status).toBe(400);
  });
});
