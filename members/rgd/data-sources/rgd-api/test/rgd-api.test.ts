import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  SignJWT,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
} from 'jose';
import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientCredentialsSource, createPool, migrate } from '@ndx/service-kit';
import { createTestDatabase, randomSecret, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { seedRegistry } from '@ndx/synthetic-data/seeding';
import { buildApp, migrationsDir } from '../src/app.ts';
import { readConfig, type Config } from '../src/config.ts';

const TTL_SECONDS = 300;
const AMARA = '199560201234';
const FAITH = '200360207777';

interface Rgd {
  app: FastifyInstance;
  url: string;
}

async function startRgd(config: Config, clock: () => Date): Promise<Rgd> {
  const app = await buildApp(config, testLogger('rgd-api'), { clock });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: address };
}

describe('RGD birth registry', () => {
  let db: TestDatabase;
  let rgd: Rgd;
  let config: Config;
  let secret: string;
  let now = Date.now();
  const clock = () => new Date(now);

  const tokenRequest = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${rgd.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  const basic = (id: string, pw: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(pw)}`).toString('base64')}`;
  const getToken = async (): Promise<string> => {
    const response = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic('ndx', secret) },
    );
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const graphql = async (
    query: string,
    token: string | undefined,
    variables?: Record<string, unknown>,
  ): Promise<{ status: number; body: GraphqlBody; headers: Headers }> => {
    const response = await fetch(`${rgd.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: response.status,
      body: (await response.json()) as GraphqlBody,
      headers: response.headers,
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase('rgd');
    const pool = createPool(db.url, testLogger());
    await migrate(pool, migrationsDir);
    await seedRegistry(pool, 'rgd', { citizens: 300 });
    await pool.end();
    secret = randomSecret();
    config = readConfig({
      DATABASE_URL: db.url,
      RGD_NDX_CLIENT_SECRET: secret,
      RGD_TOKEN_TTL_SECONDS: String(TTL_SECONDS),
      LOG_LEVEL: 'silent',
    });
    rgd = await startRgd(config, clock);
  });

  afterAll(async () => {
    await rgd?.app.close();
    await db?.drop();
  });

  describe('OAuth2 client credentials at /oauth2/token', () => {
    it('issues a signed JWT access token to the ndx client with HTTP Basic', async () => {
      const response = await tokenRequest(
        { grant_type: 'client_credentials' },
        { authorization: basic('ndx', secret) },
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        token_type: 'Bearer',
        expires_in: TTL_SECONDS,
        scope: 'birth-records:read',
      });
      expect(decodeProtectedHeader(body.access_token as string)).toMatchObject({
        alg: 'ES256',
        typ: 'at+jwt',
      });
    });

    it('accepts the client id and secret in the form body too', async () => {
      const response = await tokenRequest({
        grant_type: 'client_credentials',
        client_id: 'ndx',
        client_secret: secret,
      });
      expect(response.status).toBe(200);
    });

    it('refuses a wrong secret, an unknown client and missing credentials with 401 invalid_client', async () => {
      for (const attempt of [
        tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic('ndx', 'not-the-secret') }),
        tokenRequest({ grant_type: 'client_credentials', client_id: 'ndx', client_secret: `${secret}x` }),
        tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic('someone-else', secret) }),
        tokenRequest({ grant_type: 'client_credentials' }),
      ]) {
        const response = await attempt;
        expect(response.status).toBe(401);
        expect(await response.json()).toMatchObject({ error: 'invalid_client' });
        expect(response.headers.get('www-authenticate')).toMatch(/^Basic/);
      }
    });

    it('supports only the client credentials grant', async () => {
      const response = await tokenRequest(
        { grant_type: 'password' },
        { authorization: basic('ndx', secret) },
      );
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'unsupported_grant_type' });
      const missing = await tokenRequest({}, { authorization: basic('ndx', secret) });
      expect(missing.status).toBe(400);
      expect(await missing.json()).toMatchObject({ error: 'invalid_request' });
    });

    it('refuses a scope the client does not have', async () => {
      const response = await tokenRequest(
        { grant_type: 'client_credentials', scope: 'birth-records:write' },
        { authorization: basic('ndx', secret) },
      );
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_scope' });
    });

    it('stores the client secret only as a hash', async () => {
      const pool = createPool(db.url, testLogger());
      const { rows } = await pool.query<{ secret_hash: string }>('SELECT secret_hash FROM oauth_clients');
      await pool.end();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.secret_hash).toMatch(/^scrypt\$/);
      expect(rows[0]!.secret_hash).not.toContain(secret);
    });

    it('publishes its public signing key', async () => {
      const jwks = (await (await fetch(`${rgd.url}/oauth2/jwks`)).json()) as {
        keys: Record<string, unknown>[];
      };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(jwks.keys[0]).not.toHaveProperty('d');
      // It is the key its tokens are signed with.
      const token = await getToken();
      expect(jwks.keys[0]!['kid']).toBe(decodeProtectedHeader(token).kid);
      await expect(jwtVerify(token, await importJWK(jwks.keys[0] as JWK, 'ES256'))).resolves.toMatchObject({
        payload: { client_id: 'ndx' },
      });
    });
  });

  describe('access to /graphql', () => {
    const query = `{ getPersonInfo(nic: "${AMARA}") { fullName } }`;

    it('answers a caller with a valid token', async () => {
      const { status, body } = await graphql(query, await getToken());
      expect(status).toBe(200);
      expect(body).toEqual({ data: { getPersonInfo: { fullName: 'Amara Chanda' } } });
    });

    it('works with the service kit client-credentials source that NDX uses', async () => {
      const source = createClientCredentialsSource({
        tokenUrl: `${rgd.url}/oauth2/token`,
        clientId: 'ndx',
        clientSecret: secret,
      });
      const { status, body } = await graphql(query, await source.getToken());
      expect(status).toBe(200);
      expect(body.data).toEqual({ getPersonInfo: { fullName: 'Amara Chanda' } });
    });

    it('refuses a request without a token with 401', async () => {
      const { status, body, headers } = await graphql(query, undefined);
      expect(status).toBe(401);
      expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(body.data).toBeUndefined();
      expect(headers.get('www-authenticate')).toBe('Bearer realm="rgd"');
    });

    it('refuses an expired token with 401', async () => {
      const token = await getToken();
      now += (TTL_SECONDS + 10) * 1000;
      try {
        const { status, body } = await graphql(query, token);
        expect(status).toBe(401);
        expect(body.errors?.[0]?.message).toMatch(/expired/);
      } finally {
        now -= (TTL_SECONDS + 10) * 1000;
      }
      expect((await graphql(query, token)).status).toBe(200);
    });

    it('refuses an unsigned token (alg none) with 401', async () => {
      const [, payload] = (await getToken()).split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
      const { status } = await graphql(query, `${header}.${payload}.`);
      expect(status).toBe(401);
    });

    it('refuses a token signed with another key, even with the right key id and claims, with 401', async () => {
      const genuine = await getToken();
      const claims = JSON.parse(Buffer.from(genuine.split('.')[1]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      const { kid } = decodeProtectedHeader(genuine);
      const { privateKey } = await generateKeyPair('ES256');
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .sign(privateKey);
      expect((await graphql(query, forged)).status).toBe(401);
    });

    it('refuses an HMAC token keyed with the public key (algorithm confusion) with 401', async () => {
      const genuine = await getToken();
      const claims = JSON.parse(Buffer.from(genuine.split('.')[1]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      const jwks = (await (await fetch(`${rgd.url}/oauth2/jwks`)).json()) as {
        keys: Record<string, string>[];
      };
      const hmacKey = await importJWK(
        { kty: 'oct', k: Buffer.from(JSON.stringify(jwks.keys[0])).toString('base64url') },
        'HS256',
      );
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
        .sign(hmacKey);
      expect((await graphql(query, forged)).status).toBe(401);
    });

    it('refuses a token whose claims were edited after signing with 401', async () => {
      const [header, payload, signature] = (await getToken()).split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      const edited = Buffer.from(JSON.stringify({ ...claims, client_id: 'intruder' })).toString('base64url');
      expect((await graphql(query, `${header}.${edited}.${signature}`)).status).toBe(401);
    });

    it('keeps its signing key across restarts, so issued tokens stay valid', async () => {
      const token = await getToken();
      await rgd.app.close();
      rgd = await startRgd(config, clock);
      expect((await graphql(query, token)).status).toBe(200);
    });

    it('a token from another RGD database (another key) is refused', async () => {
      const other = await createTestDatabase('rgd_other');
      const otherRgd = await startRgd({ ...config, DATABASE_URL: other.url }, clock);
      try {
        const response = await fetch(`${otherRgd.url}/oauth2/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: basic('ndx', secret),
          },
          body: 'grant_type=client_credentials',
        });
        // The other RGD really issued a token, with the same client and claims but its own key.
        expect(response.status).toBe(200);
        const { access_token } = (await response.json()) as { access_token?: string };
        expect(access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
        const foreign = access_token!;
        const ours = await getToken();
        expect(decodeProtectedHeader(foreign).kid).not.toBe(decodeProtectedHeader(ours).kid);
        expect(decodeJwt(foreign)).toMatchObject({
          client_id: decodeJwt(ours)['client_id'],
          iss: decodeJwt(ours).iss,
          aud: decodeJwt(ours).aud,
        });
        // The other RGD itself accepts it, so the refusal below is about the key alone.
        const atOther = await fetch(`${otherRgd.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${foreign}` },
          body: JSON.stringify({ query: '{ healthCheck }' }),
        });
        expect(atOther.status).toBe(200);

        const { status, body } = await graphql(query, foreign);
        expect(status).toBe(401);
        expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
        expect(body.data).toBeUndefined();
      } finally {
        await otherRgd.app.close();
        await other.drop();
      }
    });
  });

  describe('getPersonInfo', () => {
    let token: string;
    beforeAll(async () => {
      token = await getToken();
    });

    it('returns the birth record with every field of the contract', async () => {
      const { body } = await graphql(
        `
          query ($nic: ID!) {
            getPersonInfo(nic: $nic) {
              nic
              birthRegistrationNumber
              fullName
              dateOfBirth
              birthPlace
              district
              division
              sex
              fatherName
              fatherNic
              motherName
              motherNic
              registeredOn
            }
          }
        `,
        token,
        { nic: AMARA },
      );
      expect(body).toEqual({
        data: {
          getPersonInfo: {
            nic: AMARA,
            birthRegistrationNumber: 'IBO-1995-004821',
            fullName: 'Amara Chanda',
            dateOfBirth: '1995-04-12',
            birthPlace: 'Ibombo District Hospital',
            district: 'Ibombo',
            division: 'Ibombo Central',
            sex: 'FEMALE',
            fatherName: 'Joseph Chanda',
            fatherNic: '660614127V',
            motherName: 'Grace Chanda',
            motherNic: '707572083V',
            registeredOn: '1995-04-20',
          },
        },
      });
    });

    it('returns only the fields asked for', async () => {
      const { body } = await graphql(`{ getPersonInfo(nic: "${FAITH}") { dateOfBirth fatherName } }`, token);
      expect(body).toEqual({ data: { getPersonInfo: { dateOfBirth: '2003-04-12', fatherName: null } } });
    });

    it('answers null for a well-formed NIC that RGD does not know', async () => {
      const { status, body } = await graphql(
        `
          {
            getPersonInfo(nic: "199912345678") {
              fullName
            }
          }
        `,
        token,
      );
      expect(status).toBe(200);
      expect(body).toEqual({ data: { getPersonInfo: null } });
    });

    it('answers BAD_USER_INPUT for a malformed NIC, in either format', async () => {
      for (const nic of ['12345', '852321234v', '8523212345V', 'DROP TABLE']) {
        const { status, body } = await graphql(
          `
            query ($nic: ID!) {
              getPersonInfo(nic: $nic) {
                fullName
              }
            }
          `,
          token,
          {
            nic,
          },
        );
        expect(status).toBe(200);
        expect(body.data).toEqual({ getPersonInfo: null });
        expect(body.errors?.[0]?.extensions?.code, nic).toBe('BAD_USER_INPUT');
        expect(body.errors?.[0]?.path).toEqual(['getPersonInfo']);
      }
    });

    it('answers healthCheck', async () => {
      expect((await graphql('{ healthCheck }', token)).body).toEqual({ data: { healthCheck: 'OK' } });
    });

    it('rejects a query that does not fit the schema or does not parse with 400', async () => {
      const invalid = await graphql(`{ getPersonInfo(nic: "${AMARA}") { salary } }`, token);
      expect(invalid.status).toBe(400);
      expect(invalid.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const unparsable = await graphql('{ getPersonInfo(', token);
      expect(unparsable.status).toBe(400);
      expect(unparsable.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    });
  });

  it('serves its SDL (schema abc-212) without authentication, exactly the provider contract', async () => {
    const response = await fetch(`${rgd.url}/graphql/schema.graphql`);
    expect(response.status).toBe(200);
    const sdl = await response.text();
    expect(sdl).toBe(readFileSync(join(import.meta.dirname, '..', 'schema.graphql'), 'utf8'));
    const personData = buildSchema(sdl).getType('PersonData');
    expect(Object.keys((personData as unknown as { getFields(): object }).getFields())).toHaveLength(13);
  });
});

interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: { code?: string } }[];
}
