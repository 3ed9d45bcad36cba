import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, randomSecret, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { fixturePersons, insertFixturePersons } from '../testing/index.ts';

let db: TestDatabase;
let app: FastifyInstance;
let base: string;
const apiKey = randomSecret();

beforeAll(async () => {
  db = await createTestDatabase('drp_api');
  app = await buildApp(readConfig({ DATABASE_URL: db.url, API_KEY: apiKey }), testLogger());
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  await insertFixturePersons(db.url);
});

afterAll(async () => {
  await app?.close();
  await db?.drop();
});

const errorCode = async (response: Response) =>
  ((await response.json()) as { error: { code: string } }).error.code;

const getPerson = (nic: string, key?: string) =>
  fetch(`${base}/person/${encodeURIComponent(nic)}`, {
    headers: key === undefined ? {} : { 'x-api-key': key },
  });

describe('DRP legacy REST API', () => {
  it('returns a person in the legacy snake_case shape for a valid key', async () => {
    const response = await getPerson('199560201234', apiKey);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(fixturePersons[0]);
  });

  it('returns old-format NIC records with nulls where the register has no value', async () => {
    const response = await getPerson('852321234V', apiKey);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(fixturePersons[1]);
  });

  it('refuses a request without X-API-Key with 401', async () => {
    const response = await getPerson('199560201234');
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('refuses a wrong X-API-Key with 401', async () => {
    const response = await getPerson('199560201234', `${apiKey}x`);
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('answers 404 for an unknown NIC', async () => {
    const response = await getPerson('200099999999', apiKey);
    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe('NOT_FOUND');
  });

  it.each(['12345', '123456789A', '852321234v', '1995602012345', "1' OR '1'='1"])(
    'answers 400 for the malformed NIC %s',
    async (nic) => {
      const response = await getPerson(nic, apiKey);
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe('BAD_REQUEST');
    },
  );

  it('checks the key before revealing whether a NIC exists', async () => {
    expect((await getPerson('200099999999')).status).toBe(401);
    expect((await getPerson('bad')).status).toBe(401);
  });

  it('publishes an OpenAPI 3 document describing GET /person/{nic} and its key', async () => {
    const response = await fetch(`${base}/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, { get: { responses: Record<string, unknown> } }>;
      components: { securitySchemes: Record<string, unknown>; schemas: { Person: { properties: object } } };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(['/person/{nic}']);
    expect(Object.keys(doc.paths['/person/{nic}']!.get.responses)).toEqual(['200', '400', '401', '404']);
    expect(doc.components.securitySchemes.apiKey).toEqual({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    });
    expect(Object.keys(doc.components.schemas.Person.properties).sort()).toEqual(
      Object.keys(fixturePersons[0]).sort(),
    );
  });

  it('is ready when its database answers', async () => {
    const response = await fetch(`${base}/ready`);
    expect(response.status).toBe(200);
  });
});
