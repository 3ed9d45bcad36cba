import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { apiKeyMatches } from '@ndx/service-kit';
import { randomSecret, testLogger } from '@ndx/service-kit/testing';
import { apiKeyAuth, createAdapter, type RootField } from '../src/index.ts';

const sdl = `type Query {
  node(id: ID!): Node
  broken: String
}
type Node { id: ID! child: Node }
`;

const key = randomSecret();
const chain = (id: string, depth: number): unknown =>
  depth === 0 ? null : { id, child: chain(`${id}.c`, depth - 1) };

const fields: Record<string, RootField> = {
  node: { fetch: async (args) => chain(String(args['id']), 20) },
  broken: {
    fetch: async () => {
      throw new Error('secret internals: password=hunter2');
    },
  },
};

let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  app = createAdapter({
    name: 'kit-test',
    schemaId: 'kit-test-v1',
    sdl,
    logger: testLogger(),
    auth: apiKeyAuth({ keys: [key] }),
    sources: [],
    query: fields,
    maxDepth: 4,
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
});

async function post(body: unknown, contentType = 'application/json') {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'x-api-key': key },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      data?: unknown;
      errors?: { message: string; extensions: { code: string } }[];
    },
  };
}

describe('adapter kit: building an adapter', () => {
  const build = (sdlText: string, query: Record<string, RootField>) => () =>
    createAdapter({
      name: 'x',
      schemaId: 'x',
      sdl: sdlText,
      logger: testLogger(),
      auth: apiKeyAuth({ keys: [key] }),
      sources: [],
      query,
    });

  it('refuses to start when a Query field has no fetcher', () => {
    expect(build(sdl, { node: fields.node! })).toThrow(/no fetcher for Query field\(s\): broken/);
  });

  it('refuses to start with a fetcher for a field the schema does not have', () => {
    expect(build(sdl, { ...fields, extra: fields.node! })).toThrow(/not in type Query: extra/);
  });

  it('refuses a schema with mutations: adapters are read-only', () => {
    expect(build(`${sdl}type Mutation { x: String }`, fields)).toThrow(/read-only/);
  });

  it('refuses an API-key auth without keys', () => {
    expect(() => apiKeyAuth({ keys: [''] })).toThrow(/at least one/);
  });
});

describe('adapter kit: request handling', () => {
  it('accepts a query within the depth limit', async () => {
    const { status, body } = await post({ query: '{ node(id: "a") { id child { id child { id } } } }' });
    expect(status).toBe(200);
    expect(body).toEqual({ data: { node: { id: 'a', child: { id: 'a.c', child: { id: 'a.c.c' } } } } });
  });

  it('rejects a query deeper than the limit, also through fragments', async () => {
    const { status, body } = await post({
      query: '{ node(id: "a") { ...F } } fragment F on Node { child { child { child { id } } } }',
    });
    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(body.errors?.[0]?.message).toMatch(/5 levels deep/);
  });

  it('answers a syntax error with 400 GRAPHQL_PARSE_FAILED', async () => {
    const { status, body } = await post({ query: '{ node(id: "a") { id ' });
    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('answers a body without a query with 400 BAD_REQUEST', async () => {
    const { status, body } = await post({ variables: {} });
    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions.code).toBe('BAD_REQUEST');
  });

  it('answers variables of the wrong type with 400 and no data', async () => {
    const { status, body } = await post({
      query: 'query Q($id: ID!) { node(id: $id) { id } }',
      variables: {},
    });
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('hides the message of an unexpected fetcher failure', async () => {
    const { status, body } = await post({ query: '{ broken }' });
    expect(status).toBe(200);
    expect(body.errors?.[0]).toMatchObject({
      message: 'internal error',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(JSON.stringify(body)).not.toContain('hunter2');
  });
});

describe('apiKeyMatches', () => {
  it('matches one of several keys and nothing else', () => {
    expect(apiKeyMatches('k1-aaaaaaaaaaaaaaaa', ['k0-bbbbbbbbbbbbbbbb', 'k1-aaaaaaaaaaaaaaaa'])).toBe(true);
    expect(apiKeyMatches('k1-aaaaaaaaaaaaaaa', ['k1-aaaaaaaaaaaaaaaa'])).toBe(false);
    expect(apiKeyMatches('', [''])).toBe(false);
    expect(apiKeyMatches(undefined, ['x'])).toBe(false);
  });
});
