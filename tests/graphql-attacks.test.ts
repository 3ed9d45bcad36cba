/**
 * The attacks of graphql-cop and the OWASP GraphQL cheat sheet against an OE in production mode (introspection
 * and field suggestions off, as without GRAPHQL_INTROSPECTION): each is refused with a clear code and status
 * before the OE asks the PDP for a decision, the CE for a consent or any provider for data. What is counted is
 * what the PDP, the CE and the providers say they answered (`http_requests_total` on each one's /metrics);
 * the last test shows a valid query moves all three counters, so the checks can fail.
 *
 * Statuses follow GraphQL over HTTP (legacy watershed): a GraphQL request error (a document that does not parse
 * or validate, or arguments that are not valid input) is 400 in application/graphql-response+json and 200 in
 * application/json, with the same error; a request that is not a well-formed GraphQL request keeps its 4xx.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLogger } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { approvePassportQuery } from './support/consent-portal.ts';
import { downstreamCalls } from './support/downstream-calls.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const PASSPORT_QUERY = `query Passport($nic: ID!) { personInfo(nic: $nic) { fullName name sex } }`;
const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json';

interface GraphQLError {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}
interface Answer {
  status: number;
  contentType: string;
  headers: Headers;
  text: string;
  body: { data?: unknown; errors?: GraphQLError[] };
}

let t: TestStack;
let token: string;
/** The production-mode OE under attack (in-process, on the stack's FUDI, PDP, CE, providers and audit log). */
let oeUrl: string;
let closeOe: () => Promise<void>;

async function send(
  init: { method?: string; body?: string; contentType?: string | null; accept?: string; path?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (init.contentType !== null) headers['content-type'] = init.contentType ?? 'application/json';
  if (init.accept) headers['accept'] = init.accept;
  const response = await fetch(`${oeUrl}${init.path ?? '/graphql'}`, {
    method: init.method ?? 'POST',
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    headers: response.headers,
    text,
    body: text ? (JSON.parse(text) as Answer['body']) : {},
  };
}

const post = (payload: unknown, accept?: string) =>
  send({ body: JSON.stringify(payload), ...(accept ? { accept } : {}) });

/** Runs the attack and checks the PDP, the CE and the providers were asked nothing meanwhile. */
async function refusedBeforeAnyCall<T>(attack: () => Promise<T>): Promise<T> {
  const before = await downstreamCalls(t);
  const result = await attack();
  expect(await downstreamCalls(t)).toEqual(before);
  return result;
}

/**
 * A GraphQL request error, asked for in both media types: 200 in application/json and 400 in
 * application/graphql-response+json, no `data`, every error of `code`. Returns the two answers.
 */
async function expectRequestError(payload: unknown, code: string): Promise<[Answer, Answer]> {
  const json = await post(payload, 'application/json');
  const modern = await post(payload, GRAPHQL_RESPONSE_JSON);
  expect([json.status, modern.status]).toEqual([200, 400]);
  expect(json.contentType).toMatch(/^application\/json/);
  expect(modern.contentType).toMatch(/^application\/graphql-response\+json/);
  for (const answer of [json, modern]) {
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors!.length).toBeGreaterThan(0);
    expect(new Set(answer.body.errors!.map((e) => e.extensions?.code))).toEqual(new Set([code]));
  }
  return [json, modern];
}

const messagesOf = (answer: Answer) => answer.body.errors!.map((e) => e.message);

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  token = await t.clientToken('passport-app', 'urn:ndx:api');
  // amara consents through the stack's OE, so a valid query would be released, and the providers called.
  const decided = await approvePassportQuery({
    oeUrl: t.url('orchestration-engine'),
    passportAppUrl: t.url('passport-app'),
    token: token,
    query: PASSPORT_QUERY,
    citizen: amara,
  });
  expect(decided.status).toBe('ACTIVE');

  // Production mode: GRAPHQL_INTROSPECTION is not set (off by default).
  const env: Record<string, string | undefined> = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: t.databaseUrl('ndx_audit'),
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: t.url('policy-decision-point'),
    CONSENT_ENGINE_URL: t.url('consent-engine'),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: t.url('drp-api-adapter'),
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
  };
  const config = readConfig(env);
  expect(config.GRAPHQL_INTROSPECTION).toBe(false);
  const app = await buildApp(config, testLogger('orchestration-engine'), env);
  await app.listen({ port: 0, host: '127.0.0.1' });
  oeUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  closeOe = () => app.close();
}, 240_000);

afterAll(async () => {
  await closeOe?.();
  await t?.stop();
});

const personInfo = (selection: string, nic = amara.nic) => `personInfo(nic: "${nic}") { ${selection} }`;

describe('query shapes that cost NDX, or its providers, more than they are worth', () => {
  it('alias overloading (30 aliases of one root field, or of __typename) is refused: GRAPHQL_VALIDATION_FAILED', async () => {
    await refusedBeforeAnyCall(async () => {
      const roots = Array.from({ length: 30 }, (_, i) => `a${i}: ${personInfo('name')}`).join(' ');
      const [json] = await expectRequestError({ query: `{ ${roots} }` }, 'GRAPHQL_VALIDATION_FAILED');
      expect(messagesOf(json)).toEqual(['Syntax Error: Aliases limit of 15 exceeded, found 30.']);
      const typenames = Array.from({ length: 101 }, (_, i) => `alias${i}: __typename`).join(' ');
      const [cop] = await expectRequestError({ query: `{ ${typenames} }` }, 'GRAPHQL_VALIDATION_FAILED');
      expect(messagesOf(cop)).toEqual(['Syntax Error: Aliases limit of 15 exceeded, found 101.']);
    });
  });

  it('field duplication (one field 300 times) is refused: GRAPHQL_VALIDATION_FAILED, naming the field limit', async () => {
    await refusedBeforeAnyCall(async () => {
      const [json] = await expectRequestError(
        { query: `{ ${personInfo('name '.repeat(300))} }` },
        'GRAPHQL_VALIDATION_FAILED',
      );
      expect(messagesOf(json)).toEqual([
        'the operation selects 301 fields (fragments expanded); at most 300 are allowed',
      ]);
      // The same through fragments: 1 + 30 spreads × 12 fields.
      const fanOut = `{ personInfo(nic: "${amara.nic}") { ${'...F '.repeat(30)} } }
        fragment F on PersonInfo { ${'name sex '.repeat(6)} }`;
      const [spread] = await expectRequestError({ query: fanOut }, 'GRAPHQL_VALIDATION_FAILED');
      expect(messagesOf(spread)).toEqual([
        'the operation selects 361 fields (fragments expanded); at most 300 are allowed',
      ]);
    });
  });

  it('directive overloading (50 directives on one field) is refused: GRAPHQL_VALIDATION_FAILED, with a bounded error list', async () => {
    await refusedBeforeAnyCall(async () => {
      const [json] = await expectRequestError(
        { query: `{ ${personInfo(`name ${'@aa'.repeat(50)}`)} }` },
        'GRAPHQL_VALIDATION_FAILED',
      );
      expect(messagesOf(json)).toContain('a selection carries 50 directives; at most 3 are allowed');
      expect(messagesOf(json)).toContain('Syntax Error: Directives limit of 20 exceeded, found 50.');
      expect(json.body.errors!.length).toBeLessThanOrEqual(101); // graphql-js stops at 100 validation errors
    });
  });

  it('deep nesting (10 levels) is refused: GRAPHQL_VALIDATION_FAILED, naming the depth limit', async () => {
    await refusedBeforeAnyCall(async () => {
      const deep =
        '{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }';
      const [json] = await expectRequestError({ query: deep }, 'GRAPHQL_VALIDATION_FAILED');
      expect(messagesOf(json).filter((m) => /depth limit of 8 exceeded/.test(m))).toHaveLength(1);
    });
  });

  it('circular fragments are refused: GRAPHQL_VALIDATION_FAILED', async () => {
    await refusedBeforeAnyCall(async () => {
      const cycle = `{ personInfo(nic: "${amara.nic}") { ...A } }
        fragment A on PersonInfo { name ...B }
        fragment B on PersonInfo { sex ...A }`;
      const [json] = await expectRequestError({ query: cycle }, 'GRAPHQL_VALIDATION_FAILED');
      expect(messagesOf(json)).toContain('Cannot spread fragment "A" within itself via "B".');
    });
  });

  it('array batching (a JSON array of 10 queries) is refused: 400 BAD_REQUEST in both media types', async () => {
    await refusedBeforeAnyCall(async () => {
      const batch = Array.from({ length: 10 }, () => ({
        query: PASSPORT_QUERY,
        variables: { nic: amara.nic },
      }));
      for (const accept of ['application/json', GRAPHQL_RESPONSE_JSON]) {
        const answer = await post(batch, accept);
        expect(answer.status).toBe(400);
        expect(answer.body.errors).toEqual([
          { message: 'Operation batching disabled.', extensions: { code: 'BAD_REQUEST' } },
        ]);
      }
    });
  });
});

describe('what NDX tells a stranger about its schema in production', () => {
  it('introspection (__schema, __type) is refused: GRAPHQL_VALIDATION_FAILED, and nothing of the schema is in the answer', async () => {
    await refusedBeforeAnyCall(async () => {
      for (const query of [
        '{ __schema { queryType { name } types { name } } }',
        '{ __type(name: "PersonInfo") { fields { name } } }',
      ]) {
        const [json, modern] = await expectRequestError({ query }, 'GRAPHQL_VALIDATION_FAILED');
        expect(messagesOf(json)[0]).toMatch(/introspection is not allowed/);
        for (const answer of [json, modern])
          expect(answer.text).not.toMatch(/birthInfo|BirthInfo|VehicleInfo/);
      }
    });
  });

  it('field suggestions ("Did you mean") are not given for a mistyped field or argument', async () => {
    await refusedBeforeAnyCall(async () => {
      const [field] = await expectRequestError(
        { query: `{ ${personInfo('nam')} }` },
        'GRAPHQL_VALIDATION_FAILED',
      );
      expect(messagesOf(field)).toEqual([
        'Cannot query field "nam" on type "PersonInfo". [Suggestion hidden]?',
      ]);
      const [argument] = await expectRequestError(
        { query: `{ personInfo(nicc: "${amara.nic}") { name } }` },
        'GRAPHQL_VALIDATION_FAILED',
      );
      expect(messagesOf(argument)).toContain(
        'Unknown argument "nicc" on field "Query.personInfo". [Suggestion hidden]?',
      );
      for (const answer of [field, argument]) expect(answer.text).not.toMatch(/did you mean/i);
    });
  });
});

describe('requests a browser could be tricked into sending (CSRF), and other methods', () => {
  it('GET is refused with 405 METHOD_NOT_ALLOWED and Allow: POST, whatever it asks', async () => {
    await refusedBeforeAnyCall(async () => {
      const query = encodeURIComponent(`{ ${personInfo('name')} }`);
      for (const path of [`/graphql?query=${query}`, '/graphql?query=%7B__typename%7D']) {
        const answer = await send({ method: 'GET', path, contentType: null });
        expect(answer.status).toBe(405);
        expect(answer.headers.get('allow')).toBe('POST');
        expect(answer.body.errors?.[0]?.extensions?.code).toBe('METHOD_NOT_ALLOWED');
      }
    });
  });

  it('url-encoded, multipart and text/plain posts are refused with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    await refusedBeforeAnyCall(async () => {
      const query = `{ ${personInfo('name')} }`;
      const posts = [
        { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams({ query }).toString() },
        {
          contentType: 'multipart/form-data; boundary=x',
          body: `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${query}\r\n--x--\r\n`,
        },
        { contentType: 'text/plain', body: JSON.stringify({ query }) },
        { contentType: null, body: JSON.stringify({ query }) },
      ];
      for (const form of posts) {
        const answer = await send(form);
        expect(answer.status).toBe(415);
        expect(answer.body.errors).toEqual([
          {
            message: 'send the GraphQL request as Content-Type: application/json',
            extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' },
          },
        ]);
      }
    });
  });
});

describe('oversized and hostile input', () => {
  it('a body over maxBodyBytes (64 KiB) is refused with 413 PAYLOAD_TOO_LARGE', async () => {
    await refusedBeforeAnyCall(async () => {
      const answer = await post({
        query: PASSPORT_QUERY,
        variables: { nic: amara.nic, pad: 'x'.repeat(70_000) },
      });
      expect(answer.status).toBe(413);
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    });
  });

  it('an oversized variable or string argument (within the body limit) is BAD_USER_INPUT, naming where', async () => {
    await refusedBeforeAnyCall(async () => {
      const [variable] = await expectRequestError(
        { query: PASSPORT_QUERY, variables: { nic: '1'.repeat(5_000) } },
        'BAD_USER_INPUT',
      );
      expect(messagesOf(variable)).toEqual([
        'variable $nic is 5000 characters long; at most 1024 are allowed',
      ]);
      const [literal] = await expectRequestError(
        { query: `{ vehicle(regNo: "${'A'.repeat(5_000)}") { make } }` },
        'BAD_USER_INPUT',
      );
      expect(messagesOf(literal)).toEqual([
        'a string argument is 5000 characters long; at most 1024 are allowed',
      ]);
    });
  });

  it('control and invisible characters in an argument, literal or variable, are BAD_USER_INPUT', async () => {
    await refusedBeforeAnyCall(async () => {
      const vehicle = 'query V($r: ID!) { vehicle(regNo: $r) { make } }';
      for (const [regNo, codePoint] of [
        ['CAB-1234\u0000', '0000'],
        ["CAB-1234'\u001b[2J", '001B'],
        ['CAB\u202e4321', '202E'],
        ['CAB\u200b1234', '200B'],
      ] as const) {
        const [json] = await expectRequestError(
          { query: vehicle, variables: { r: regNo } },
          'BAD_USER_INPUT',
        );
        expect(messagesOf(json)).toEqual([
          `variable $r holds a control or invisible formatting character (U+${codePoint})`,
        ]);
      }
      const [literal] = await expectRequestError(
        { query: `{ personInfo(nic: "19956020\\u00001234") { name } }` },
        'BAD_USER_INPUT',
      );
      expect(messagesOf(literal)).toEqual([
        'a string argument holds a control or invisible formatting character (U+0000)',
      ]);
    });
  });

  it('a NIC in other digits or letters than ASCII ones (full-width, Arabic-Indic, Cyrillic V) is BAD_USER_INPUT', async () => {
    await refusedBeforeAnyCall(async () => {
      for (const nic of ['１９９５６０２０１２３４', '١٩٩٥٦٠٢٠١٢٣٤', '852321234\u0412']) {
        const [json] = await expectRequestError(
          { query: PASSPORT_QUERY, variables: { nic } },
          'BAD_USER_INPUT',
        );
        expect(json.text).not.toContain(amara.birthName);
      }
    });
  });
});

describe('the counters the checks above rely on', () => {
  it('move for a valid query: the PDP is asked for a decision, the CE for the consent, the providers for data', async () => {
    const before = await downstreamCalls(t);
    const answer = await post({ query: PASSPORT_QUERY, variables: { nic: amara.nic } });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({
      personInfo: { fullName: amara.drpFullName, name: amara.birthName, sex: amara.sex },
    });
    const after = await downstreamCalls(t);
    expect(after.pdp).toBeGreaterThan(before.pdp);
    expect(after.ce).toBeGreaterThan(before.ce);
    expect(after.providers).toBeGreaterThan(before.providers);
  });
});
