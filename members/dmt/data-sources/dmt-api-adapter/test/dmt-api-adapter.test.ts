import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, SignJWT } from 'jose';
import pg from 'pg';
import { createClientAsync, WSSecurity, type Client } from 'soap';
import { buildApp as buildSoapApp } from '@ndx/dmt-soap-api';
import { startTestIdentityProvider, type TestIdentityProvider } from '@ndx/identity-provider/testing';
import { createTestDatabase, freePort, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { readConfig as readSoapConfig } from '@ndx/dmt-soap-api/config';
import {
  fixtureClasses,
  fixtureVehicles,
  insertFixtureVehicles,
  testSoapCredentials,
} from '@ndx/dmt-soap-api/testing';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { sdl } from '../src/schema.ts';

let db: TestDatabase;
let fudi: TestIdentityProvider;
let soapService: FastifyInstance;
let soapUrl: string;
let soapClient: Client;
let adapterUrl: string;
let token: string;
const started: FastifyInstance[] = [];
const upstreams: Server[] = [];

async function startAdapter(env: Record<string, string> = {}): Promise<string> {
  const app = await buildApp(
    readConfig({
      FUDI_ISSUER: fudi.issuer,
      DMT_SOAP_URL: `${soapUrl}/vehicles`,
      DMT_SOAP_USERNAME: testSoapCredentials.username,
      DMT_SOAP_PASSWORD: testSoapCredentials.password,
      ...env,
    }),
    testLogger(),
  );
  started.push(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions: Record<string, unknown> }[];
}

async function graphql(
  url: string,
  query: string,
  bearer: string | null = token,
  extra: Record<string, string> = {},
) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
      ...extra,
    },
    body: JSON.stringify({ query }),
    // Only catches a hang: every answer here is expected well within it.
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLBody };
}

/** A real HTTP server on loopback standing in for a misbehaving SOAP service: serves the real WSDL, then misbehaves on POST. */
async function startMisbehavingSoap(
  onPost: (respond: (status: number, body: string) => void, headers: IncomingHttpHeaders) => void,
): Promise<{ url: string; received: IncomingHttpHeaders[]; bodies: string[] }> {
  const wsdl = await (await fetch(`${soapUrl}/vehicles?wsdl`)).text();
  const received: IncomingHttpHeaders[] = [];
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(wsdl);
      return;
    }
    received.push(req.headers);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      onPost((status, body) => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/xml' }).end(body);
      }, req.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstreams.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/vehicles`,
    received,
    bodies,
  };
}

beforeAll(async () => {
  db = await createTestDatabase('dmt_adapter');
  soapService = await buildSoapApp(
    readSoapConfig({
      DATABASE_URL: db.url,
      SOAP_USERNAME: testSoapCredentials.username,
      SOAP_PASSWORD: testSoapCredentials.password,
    }),
    testLogger(),
  );
  soapUrl = await soapService.listen({ port: 0, host: '127.0.0.1' });
  await insertFixtureVehicles(db.url);
  soapClient = await createClientAsync(`${soapUrl}/vehicles?wsdl`);
  soapClient.setSecurity(
    new WSSecurity(testSoapCredentials.username, testSoapCredentials.password, {
      passwordType: 'PasswordDigest',
      hasTimeStamp: false,
    }),
  );
  fudi = await startTestIdentityProvider();
  const oe = await fudi.addServiceClient({
    clientId: 'orchestration-engine',
    resources: ['urn:dmt:vehicles'],
  });
  token = await fudi.clientCredentialsToken(oe, 'urn:dmt:vehicles');
  adapterUrl = await startAdapter();
});

afterAll(async () => {
  for (const app of started) await app.close();
  for (const server of upstreams) server.closeAllConnections();
  await Promise.all(upstreams.map((s) => new Promise((r) => s.close(r))));
  await soapService?.close();
  await fudi?.stop();
  await db?.drop();
});

const VEHICLE_FIELDS = 'registrationNumber make model yearOfManufacture classes { className classCode }';

describe('DMT adapter: inbound auth with FUDI tokens', () => {
  it('answers a request with a FUDI token for urn:dmt:vehicles', async () => {
    const { status, body } = await graphql(adapterUrl, '{ vehicle(regNo: "CAB-1234") { make } }');
    expect(status).toBe(200);
    expect(body).toEqual({ data: { vehicle: { make: 'Toyota' } } });
  });

  it('refuses a request without a token with 401', async () => {
    const { status, headers, body } = await graphql(adapterUrl, '{ vehicleClasses { classCode } }', null);
    expect(status).toBe(401);
    expect(headers.get('www-authenticate')).toContain('Bearer');
    expect(body.errors?.[0]?.extensions['code']).toBe('UNAUTHENTICATED');
  });

  it('refuses a FUDI token issued for another audience', async () => {
    const other = await fudi.addServiceClient({ clientId: 'pdp-caller', resources: ['urn:ndx:pdp'] });
    const wrongAudience = await fudi.clientCredentialsToken(other, 'urn:ndx:pdp');
    const { status, body } = await graphql(adapterUrl, '{ vehicleClasses { classCode } }', wrongAudience);
    expect(status).toBe(401);
    expect(body.errors?.[0]?.message).toMatch(/aud/);
  });

  it('refuses an expired token even though FUDI signed it', async () => {
    const [activeKey] = await fudi.internals.keys.currentKeys();
    const claims = decodeJwt(token);
    const { kid, alg } = decodeProtectedHeader(token);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 3600, exp: now - 600 })
      .setProtectedHeader({ alg: alg!, kid: kid!, typ: 'at+jwt' })
      .sign(await importJWK(activeKey!, alg));
    const { status, body } = await graphql(adapterUrl, '{ vehicleClasses { classCode } }', expired);
    expect(status).toBe(401);
    expect(body.errors?.[0]?.message).toMatch(/expired/);
  });

  it('refuses a token signed by a key FUDI does not publish', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const { kid } = decodeProtectedHeader(token);
    const forged = await new SignJWT(decodeJwt(token))
      .setProtectedHeader({ alg: 'RS256', kid: kid! })
      .sign(privateKey);
    const { status, body } = await graphql(adapterUrl, '{ vehicleClasses { classCode } }', forged);
    expect(status).toBe(401);
    expect(body.errors?.[0]?.extensions['code']).toBe('UNAUTHENTICATED');
    expect(body.data ?? null).toBeNull();
  });

  it('refuses an unsigned (alg none) token', async () => {
    const [, payload] = token.split('.');
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
    const { status } = await graphql(adapterUrl, '{ vehicleClasses { classCode } }', unsigned);
    expect(status).toBe(401);
  });

  it('refuses a client that is not on the allow-list with 403 when one is configured', async () => {
    const url = await startAdapter({ ALLOWED_CLIENT_IDS: 'someone-else' });
    const { status, body } = await graphql(url, '{ vehicleClasses { classCode } }');
    expect(status).toBe(403);
    expect(body.errors?.[0]?.extensions['code']).toBe('FORBIDDEN');
  });

  it('serves its SDL without auth', async () => {
    const response = await fetch(`${adapterUrl}/graphql/schema.graphql`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ndx-schema-id')).toBe('dmt-schema-v1');
    expect(await response.text()).toBe(sdl);
  });
});

describe('DMT adapter: GraphQL to SOAP translation', () => {
  it.each(fixtureVehicles.map((v) => [v.reg]))(
    'vehicle(%s) returns every field exactly as GetVehicle has it',
    async (reg) => {
      const [legacy] = await soapClient.GetVehicleAsync({ RegistrationNumber: reg });
      const { body } = await graphql(adapterUrl, `{ vehicle(regNo: "${reg}") { ${VEHICLE_FIELDS} } }`);
      expect(body.errors).toBeUndefined();
      const v = legacy.Vehicle;
      const legacyClasses = v.Classes?.VehicleClass === undefined ? [] : [v.Classes.VehicleClass].flat();
      expect(body.data?.['vehicle']).toEqual({
        registrationNumber: v.RegistrationNumber,
        make: v.Make,
        model: v.Model,
        yearOfManufacture: v.YearOfManufacture,
        classes: legacyClasses.map((c: { ClassCode: string; ClassName: string }) => ({
          className: c.ClassName,
          classCode: c.ClassCode,
        })),
      });
      const fixture = fixtureVehicles.find((f) => f.reg === reg)!;
      expect((body.data?.['vehicle'] as { classes: unknown[] }).classes).toHaveLength(fixture.classes.length);
    },
  );

  it('vehiclesByOwner returns every vehicle of the owner, as GetVehiclesByOwner has them', async () => {
    const [legacy] = await soapClient.GetVehiclesByOwnerAsync({ OwnerNic: '783345678V' });
    const { body } = await graphql(
      adapterUrl,
      '{ vehiclesByOwner(ownerNic: "783345678V") { registrationNumber make model yearOfManufacture } }',
    );
    expect(body.data?.['vehiclesByOwner']).toEqual(
      (
        legacy.Vehicle as {
          RegistrationNumber: string;
          Make: string;
          Model: string;
          YearOfManufacture: number;
        }[]
      ).map((v) => ({
        registrationNumber: v.RegistrationNumber,
        make: v.Make,
        model: v.Model,
        yearOfManufacture: v.YearOfManufacture,
      })),
    );
  });

  it('vehiclesByOwner returns a one-element list for an owner of one vehicle', async () => {
    const { body } = await graphql(
      adapterUrl,
      '{ vehiclesByOwner(ownerNic: "199560201234") { registrationNumber } }',
    );
    expect(body).toEqual({ data: { vehiclesByOwner: [{ registrationNumber: 'CAB-1234' }] } });
  });

  it('vehiclesByOwner returns an empty list for an owner without vehicles', async () => {
    const { body } = await graphql(
      adapterUrl,
      '{ vehiclesByOwner(ownerNic: "852321234V") { registrationNumber } }',
    );
    expect(body).toEqual({ data: { vehiclesByOwner: [] } });
  });

  it('vehicleClasses returns the public catalogue', async () => {
    const { body } = await graphql(adapterUrl, '{ vehicleClasses { classCode className } }');
    expect(body).toEqual({
      data: { vehicleClasses: fixtureClasses.map((c) => ({ classCode: c.code, className: c.name })) },
    });
  });

  it('returns only the fields asked for', async () => {
    const { body } = await graphql(
      adapterUrl,
      '{ vehicle(regNo: "BUS-3310") { model classes { classCode } } }',
    );
    expect(body).toEqual({
      data: { vehicle: { model: 'Viking', classes: [{ classCode: 'B' }, { classCode: 'D' }] } },
    });
  });

  it('answers null for an unknown registration number', async () => {
    const { body } = await graphql(adapterUrl, '{ vehicle(regNo: "ZZZ-0000") { make } }');
    expect(body).toEqual({ data: { vehicle: null } });
  });

  it('answers BAD_USER_INPUT for a malformed owner NIC', async () => {
    const { status, body } = await graphql(adapterUrl, '{ vehiclesByOwner(ownerNic: "12345") { make } }');
    expect(status).toBe(200);
    expect(body.errors?.[0]?.extensions['code']).toBe('BAD_USER_INPUT');
    expect(body.errors?.[0]?.path).toEqual(['vehiclesByOwner']);
  });

  it('answers BAD_USER_INPUT for a malformed registration number', async () => {
    const { body } = await graphql(adapterUrl, '{ vehicle(regNo: "<x>") { make } }');
    expect(body.data).toEqual({ vehicle: null });
    expect(body.errors?.[0]?.extensions['code']).toBe('BAD_USER_INPUT');
  });
});

describe('DMT adapter: upstream failures are PROVIDER_ERROR, never a silent null', () => {
  it('maps a SOAP Server fault (HTTP 500) to PROVIDER_ERROR with the status and fault code', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // Break the real legacy service: its query fails and it answers a soap:Server fault.
      await client.query('ALTER TABLE vehicles RENAME TO vehicles_away');
      const { body } = await graphql(adapterUrl, '{ vehicle(regNo: "CAB-1234") { make } }');
      expect(body.data).toEqual({ vehicle: null });
      expect(body.errors?.[0]?.extensions).toMatchObject({
        code: 'PROVIDER_ERROR',
        reason: 'fault',
        upstreamStatus: 500,
        faultCode: 'soap:Server',
        source: 'dmt-soap-api',
      });
    } finally {
      await client.query('ALTER TABLE vehicles_away RENAME TO vehicles');
      await client.end();
    }
  });

  it('maps a slow SOAP service to PROVIDER_ERROR reason timeout', async () => {
    // The SOAP service takes the call and never answers: only the adapter's own timeout can end it.
    let callReceived!: (soapAction: string) => void;
    const received = new Promise<string>((resolve) => (callReceived = resolve));
    const silent = await startMisbehavingSoap((_respond, headers) =>
      callReceived(String(headers['soapaction'])),
    );
    const url = await startAdapter({ DMT_SOAP_URL: silent.url, UPSTREAM_TIMEOUT_MS: '300' });
    const { status, body } = await graphql(url, '{ vehicle(regNo: "CAB-1234") { make } }');
    expect(await received).toContain('GetVehicle');
    expect(status).toBe(200);
    expect(body.data).toEqual({ vehicle: null });
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'timeout',
      source: 'dmt-soap-api',
    });
    expect(body.errors?.[0]?.message).toMatch(/within 300 ms/);
  });

  it('maps an HTTP 503 without a SOAP body to PROVIDER_ERROR with status 503', async () => {
    const down = await startMisbehavingSoap((respond) => respond(503, 'Service Unavailable'));
    const url = await startAdapter({ DMT_SOAP_URL: down.url });
    const { body } = await graphql(url, '{ vehicle(regNo: "CAB-1234") { make } }');
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'PROVIDER_ERROR', upstreamStatus: 503 });
  });

  it('maps a 200 answer that is not SOAP to PROVIDER_ERROR reason invalid-response', async () => {
    const garbage = await startMisbehavingSoap((respond) => respond(200, '<html>maintenance</html>'));
    const url = await startAdapter({ DMT_SOAP_URL: garbage.url });
    const { body } = await graphql(url, '{ vehiclesByOwner(ownerNic: "783345678V") { make } }');
    // vehiclesByOwner is non-null, so the error nulls the whole data, as GraphQL requires.
    expect(body.data).toBeNull();
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'invalid-response',
    });
  });

  it('maps an unreachable SOAP service to PROVIDER_ERROR and reports unready', async () => {
    const url = await startAdapter({ DMT_SOAP_URL: `http://127.0.0.1:${await freePort()}/vehicles` });
    const { body } = await graphql(url, '{ vehicle(regNo: "CAB-1234") { make } }');
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'PROVIDER_ERROR', reason: 'unreachable' });
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
  });

  it('propagates the caller trace id on the SOAP call', async () => {
    const recorder = await startMisbehavingSoap((respond) => respond(503, ''));
    const url = await startAdapter({ DMT_SOAP_URL: recorder.url });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await graphql(url, '{ vehicle(regNo: "CAB-1234") { make } }', token, {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    expect(recorder.received[0]?.['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(recorder.received[0]?.['soapaction']).toContain('GetVehicle');
  });

  it('is ready when the SOAP service answers its WSDL', async () => {
    const ready = await fetch(`${adapterUrl}/ready`);
    expect(ready.status).toBe(200);
  });
});

describe('DMT adapter: WS-Security UsernameToken towards the legacy SOAP service', () => {
  const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
  const DIGEST_TYPE =
    'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

  /** The UsernameToken of a SOAP request body, read with plain regexes (independent of any SOAP code). */
  function usernameTokenOf(xml: string) {
    const element = (name: string) => new RegExp(`<([\\w-]+:)?${name}(\\s[^>]*)?>([^<]*)</`).exec(xml);
    const password = element('Password');
    return {
      securityNamespace: /<([\w-]+:)?Security\s[^>]*xmlns:wsse="([^"]+)"/.exec(xml)?.[2],
      username: element('Username')?.[3],
      passwordType: /Type="([^"]+)"/.exec(password?.[2] ?? '')?.[1],
      digest: password?.[3],
      nonce: element('Nonce')?.[3],
      created: element('Created')?.[3],
    };
  }

  it('sends a UsernameToken with a PasswordDigest of a fresh nonce and Created on every SOAP call', async () => {
    const recorder = await startMisbehavingSoap((respond) => respond(503, ''));
    const url = await startAdapter({ DMT_SOAP_URL: recorder.url });
    await graphql(url, '{ vehicle(regNo: "CAB-1234") { make } }');
    await graphql(url, '{ vehicleClasses { classCode } }');
    expect(recorder.bodies).toHaveLength(2);
    const tokens = recorder.bodies.map(usernameTokenOf);
    for (const token of tokens) {
      expect(token.securityNamespace).toBe(WSSE);
      expect(token.username).toBe(testSoapCredentials.username);
      expect(token.passwordType).toBe(DIGEST_TYPE);
      expect(Buffer.from(token.nonce!, 'base64')).toHaveLength(16);
      expect(Math.abs(Date.parse(token.created!) - Date.now())).toBeLessThan(60_000);
      // PasswordDigest = Base64(SHA-1(nonce + created + password)); the password itself never travels.
      const expected = createHash('sha1')
        .update(
          Buffer.concat([
            Buffer.from(token.nonce!, 'base64'),
            Buffer.from(token.created!, 'utf8'),
            Buffer.from(testSoapCredentials.password, 'utf8'),
          ]),
        )
        .digest('base64');
      expect(token.digest).toBe(expected);
    }
    expect(tokens[0]!.nonce).not.toBe(tokens[1]!.nonce);
    expect(recorder.bodies.join('')).not.toContain(testSoapCredentials.password);
  });

  it('maps a wrong SOAP password to PROVIDER_ERROR with fault code wsse:FailedAuthentication, no vehicle data', async () => {
    const url = await startAdapter({ DMT_SOAP_PASSWORD: 'not-the-password-0123456789' });
    const { body } = await graphql(url, '{ vehicle(regNo: "CAB-1234") { make } }');
    expect(body.data).toEqual({ vehicle: null });
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'fault',
      faultCode: 'wsse:FailedAuthentication',
      upstreamStatus: 500,
      source: 'dmt-soap-api',
    });
  });

  it('answers many calls in a row with the right password (each nonce is new)', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => graphql(adapterUrl, '{ vehicle(regNo: "BUS-3310") { model } }')),
    );
    for (const { body } of answers) expect(body).toEqual({ data: { vehicle: { model: 'Viking' } } });
  });

  it('refuses to start without a SOAP password, naming the setting', () => {
    expect(() => readConfig({ FUDI_ISSUER: fudi.issuer })).toThrow(/DMT_SOAP_PASSWORD/);
  });
});
