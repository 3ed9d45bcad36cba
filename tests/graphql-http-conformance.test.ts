/**
 * GraphQL over HTTP conformance of the OE's /graphql: the `graphql-http` package's server audits (the GraphQL
 * Foundation's spec, legacy watershed), run against the real stack's OE with a real consumer token (the passport
 * app's). No MUST fails and no SHOULD warns; the MAYs NDX does not do (notices) are exactly those listed in
 * docs/consumer-guide.md ("GraphQL over HTTP").
 */
import { serverAudits, type AuditResult } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/** The audits NDX answers otherwise than a MAY allows, and why (docs/consumer-guide.md). */
const NOTICES: Record<string, string> = {
  '5A70': 'MAY accept application/x-www-form-urlencoded formatted GET requests (NDX: POST only, 405)',
  D6D5: 'MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/graphql-response+json (NDX: POST only, 405)',
  '6A70':
    'MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json (NDX: POST only, 405)',
};

let t: TestStack;
let token: string;
let graphqlUrl: string;

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  token = await t.clientToken('passport-app', 'urn:ndx:api');
  graphqlUrl = `${t.url('orchestration-engine')}/graphql`;
}, 240_000);

afterAll(async () => {
  await t?.stop();
});

/** fetch with the consumer's token: every audit request is an authenticated consumer's. */
const withToken = (input: string, init: RequestInit = {}) =>
  fetch(input, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
  });

const describeResult = (r: AuditResult) =>
  `${r.id} ${r.status}: ${r.name}${'reason' in r ? ` (${r.reason})` : ''}`;

describe('GraphQL over HTTP (graphql-http server audits)', () => {
  it('every MUST passes, no SHOULD warns, and the notices are the documented GET ones', async () => {
    const audits = serverAudits({ url: graphqlUrl, fetchFn: withToken });
    const results: AuditResult[] = [];
    for (const audit of audits) results.push(await audit.fn());
    expect(results.length).toBeGreaterThan(60);
    const withStatus = (status: AuditResult['status']) => results.filter((r) => r.status === status);
    expect(withStatus('error').map(describeResult)).toEqual([]);
    expect(withStatus('warn').map(describeResult)).toEqual([]);
    expect(Object.fromEntries(withStatus('notice').map((r) => [r.id, r.name]))).toEqual(
      Object.fromEntries(Object.entries(NOTICES).map(([id, why]) => [id, why.replace(/ \(NDX: .*\)$/, '')])),
    );
  });

  it('a request error (parse, validation, variable coercion) is 200 with its code in application/json and 400 in application/graphql-response+json', async () => {
    const cases = [
      { payload: { query: '{' }, code: 'GRAPHQL_PARSE_FAILED' },
      {
        payload: { query: '{ personInfo(nic: "199560201234") { salary } }' },
        code: 'GRAPHQL_VALIDATION_FAILED',
      },
      {
        payload: { query: 'query P($nic: ID!) { personInfo(nic: $nic) { name } }', variables: { nic: null } },
        code: 'BAD_USER_INPUT',
      },
    ];
    for (const { payload, code } of cases) {
      for (const [accept, status, mediaType] of [
        ['application/json', 200, 'application/json'],
        [undefined, 200, 'application/json'],
        ['*/*', 200, 'application/json'],
        ['application/graphql-response+json', 400, 'application/graphql-response+json'],
        // What the passport app sends: it prefers the new media type, so its answers keep their 4xx.
        ['application/graphql-response+json, application/json', 400, 'application/graphql-response+json'],
      ] as const) {
        const response = await withToken(graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
          body: JSON.stringify(payload),
        });
        const body = (await response.json()) as {
          data?: unknown;
          errors?: { extensions?: { code?: string } }[];
        };
        expect([accept, response.status, response.headers.get('content-type')]).toEqual([
          accept,
          status,
          `${mediaType}; charset=utf-8`,
        ]);
        expect('data' in body).toBe(false);
        expect(body.errors?.map((e) => e.extensions?.code)).toEqual([code]);
      }
    }
  });
});
