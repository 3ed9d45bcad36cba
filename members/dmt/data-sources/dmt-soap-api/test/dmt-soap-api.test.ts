import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { createClientAsync, WSSecurity, type Client } from 'soap';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import {
  fixtureClasses,
  fixtureVehicles,
  insertFixtureVehicles,
  testSoapCredentials,
} from '../testing/index.ts';

let db: TestDatabase;
let app: FastifyInstance;
let base: string;
let client: Client;

const NS = 'http://dmt.farajaland.example/vehicle-registry/v1';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const TOKEN_PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';

function serviceConfig(databaseUrl: string) {
  return readConfig({
    DATABASE_URL: databaseUrl,
    SOAP_USERNAME: testSoapCredentials.username,
    SOAP_PASSWORD: testSoapCredentials.password,
  });
}

/** What a SOAP client library sends: the `soap` package's UsernameToken with a PasswordDigest. */
const digestSecurity = (password: string = testSoapCredentials.password) =>
  new WSSecurity(testSoapCredentials.username, password, {
    passwordType: 'PasswordDigest',
    hasTimeStamp: false,
  });

beforeAll(async () => {
  db = await createTestDatabase('dmt_soap');
  app = await buildApp(serviceConfig(db.url), testLogger());
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  await insertFixtureVehicles(db.url);
  client = await createClientAsync(`${base}/vehicles?wsdl`);
  client.setSecurity(digestSecurity());
});

afterAll(async () => {
  await app?.close();
  await db?.drop();
});

interface TokenParts {
  username?: string;
  password?: string;
  nonce?: Buffer;
  /** wsu:Created exactly as sent. */
  created?: string;
  passwordType?: 'PasswordDigest' | 'PasswordText';
}

/**
 * A wsse:Security header with a UsernameToken, built here from the OASIS profile's formula
 * (PasswordDigest = Base64(SHA-1(nonce + created + password))) independently of the service's code.
 */
function securityHeader(parts: TokenParts = {}): string {
  const {
    username = testSoapCredentials.username,
    password = testSoapCredentials.password,
    nonce = randomBytes(16),
    created = new Date().toISOString(),
    passwordType = 'PasswordDigest',
  } = parts;
  const digest = createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest('base64');
  return (
    `<wsse:Security xmlns:wsse="${WSSE}" xmlns:wsu="${WSU}"><wsse:UsernameToken>` +
    `<wsse:Username>${username}</wsse:Username>` +
    `<wsse:Password Type="${TOKEN_PROFILE}#${passwordType}">${passwordType === 'PasswordDigest' ? digest : password}</wsse:Password>` +
    `<wsse:Nonce>${nonce.toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created>` +
    '</wsse:UsernameToken></wsse:Security>'
  );
}

/** A SOAP 1.1 envelope with the given header and body content. */
const envelope = (header: string | null, body: string) =>
  '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' +
  `xmlns:v="${NS}">${header === null ? '' : `<soap:Header>${header}</soap:Header>`}<soap:Body>${body}</soap:Body></soap:Envelope>`;

/** Posts raw XML to the SOAP endpoint of `at` (the shared service unless given). */
async function postXml(xml: string, operation: string, at = base): Promise<{ status: number; text: string }> {
  const response = await fetch(`${at}/vehicles`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${NS}/${operation}"` },
    body: xml,
  });
  return { status: response.status, text: await response.text() };
}

/** Posts a SOAP 1.1 envelope with the given body content and a valid, fresh UsernameToken (unless header is given). */
async function postEnvelope(
  body: string,
  operation: string,
  header: string | null = securityHeader(),
): Promise<{ status: number; text: string }> {
  return postXml(envelope(header, body), operation);
}

async function withDatabase<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

const OWNER_QUERY = '<v:GetVehiclesByOwner><v:OwnerNic>783345678V</v:OwnerNic></v:GetVehiclesByOwner>';
const faultCodeOf = (text: string) => /<faultcode>([^<]*)<\/faultcode>/.exec(text)?.[1];
const errorCodeOf = (text: string) => /<ErrorCode>([^<]*)<\/ErrorCode>/.exec(text)?.[1];

const [car, bus] = fixtureVehicles;

describe('DMT legacy SOAP service: WSDL', () => {
  it('serves a WSDL at ?wsdl with the three operations and its own address', async () => {
    const response = await fetch(`${base}/vehicles?wsdl`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/xml');
    const wsdl = await response.text();
    for (const op of ['GetVehicle', 'GetVehiclesByOwner', 'ListVehicleClasses']) {
      expect(wsdl).toContain(`<wsdl:operation name="${op}">`);
    }
    expect(wsdl).toContain(`<soap:address location="${base}/vehicles"/>`);
  });

  it('is described well enough for a SOAP client library to build a client from it', () => {
    const description = client.describe() as Record<string, Record<string, Record<string, unknown>>>;
    expect(Object.keys(description['VehicleRegistryService']!['VehicleRegistryPort']!).sort()).toEqual([
      'GetVehicle',
      'GetVehiclesByOwner',
      'ListVehicleClasses',
    ]);
  });
});

describe('DMT legacy SOAP service: operations', () => {
  it('GetVehicle returns the registered vehicle with its classes', async () => {
    const [result] = await client.GetVehicleAsync({ RegistrationNumber: bus!.reg });
    expect(result.Vehicle).toEqual({
      RegistrationNumber: 'BUS-3310',
      Make: 'Ashok Leyland',
      Model: 'Viking',
      YearOfManufacture: 2009,
      OwnerNic: '783345678V',
      Classes: {
        VehicleClass: [
          { ClassCode: 'B', ClassName: fixtureClasses[1].name },
          { ClassCode: 'D', ClassName: fixtureClasses[2].name },
        ],
      },
    });
  });

  it('GetVehicle answers an empty response (no Vehicle) for an unknown registration number', async () => {
    const { status, text } = await postEnvelope(
      '<v:GetVehicle><v:RegistrationNumber>ZZZ-0000</v:RegistrationNumber></v:GetVehicle>',
      'GetVehicle',
    );
    expect(status).toBe(200);
    expect(text).toContain('GetVehicleResponse');
    expect(text).not.toContain('Vehicle>');
  });

  it('GetVehiclesByOwner returns every vehicle of the owner', async () => {
    const [result] = await client.GetVehiclesByOwnerAsync({ OwnerNic: '783345678V' });
    const regs = (result.Vehicle as { RegistrationNumber: string }[]).map((v) => v.RegistrationNumber);
    expect(regs).toEqual(['BUS-3310', 'KAF-0987', 'NDA-4521']);
  });

  it('GetVehiclesByOwner returns no vehicles for an owner without any', async () => {
    const { status, text } = await postEnvelope(
      '<v:GetVehiclesByOwner><v:OwnerNic>852321234V</v:OwnerNic></v:GetVehiclesByOwner>',
      'GetVehiclesByOwner',
    );
    expect(status).toBe(200);
    expect(text).toContain('GetVehiclesByOwnerResponse');
    expect(text).not.toContain('RegistrationNumber');
  });

  it('ListVehicleClasses returns the class catalogue', async () => {
    const [result] = await client.ListVehicleClassesAsync({});
    expect(result.VehicleClass).toEqual(
      fixtureClasses.map((c) => ({ ClassCode: c.code, ClassName: c.name })),
    );
  });

  it('reads the car fixture through the SOAP client field by field', async () => {
    const [result] = await client.GetVehicleAsync({ RegistrationNumber: car!.reg });
    expect(result.Vehicle.Make).toBe(car!.make);
    expect(result.Vehicle.YearOfManufacture).toBe(car!.year);
  });
});

describe('DMT legacy SOAP service: faults', () => {
  it('answers a malformed owner NIC with a soap:Client fault and HTTP 500', async () => {
    const { status, text } = await postEnvelope(
      '<v:GetVehiclesByOwner><v:OwnerNic>12345</v:OwnerNic></v:GetVehiclesByOwner>',
      'GetVehiclesByOwner',
    );
    expect(status).toBe(500);
    expect(text).toMatch(/<faultcode>soap:Client<\/faultcode>/);
    expect(text).toContain('<ErrorCode>INVALID_NIC</ErrorCode>');
  });

  it('answers a malformed registration number with a soap:Client fault', async () => {
    const { status, text } = await postEnvelope(
      '<v:GetVehicle><v:RegistrationNumber>&lt;script&gt;</v:RegistrationNumber></v:GetVehicle>',
      'GetVehicle',
    );
    expect(status).toBe(500);
    expect(text).toContain('<ErrorCode>INVALID_REGISTRATION_NUMBER</ErrorCode>');
  });

  it('answers a missing argument with a soap:Client fault', async () => {
    const { status, text } = await postEnvelope('<v:GetVehicle/>', 'GetVehicle');
    expect(status).toBe(500);
    expect(text).toContain('<ErrorCode>MISSING_ARGUMENT</ErrorCode>');
  });

  it('answers a body that is not a SOAP envelope with a soap:Client fault', async () => {
    const response = await fetch(`${base}/vehicles`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: 'this is not xml',
    });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).toContain('<faultcode>soap:Client</faultcode>');
    expect(text).toContain('<ErrorCode>MALFORMED_REQUEST</ErrorCode>');
  });

  it('answers broken XML inside an envelope with a soap:Client fault without parser internals', async () => {
    const { status, text } = await postEnvelope('<v:GetVehicle><v:RegistrationNumber>', 'GetVehicle');
    expect(status).toBe(500);
    expect(text).toContain('<ErrorCode>MALFORMED_REQUEST</ErrorCode>');
    expect(text).not.toContain('Line:');
  });

  it('surfaces faults to a SOAP client library as errors carrying the fault', async () => {
    const failure = await client.GetVehiclesByOwnerAsync({ OwnerNic: 'nope' }).catch((err: unknown) => err);
    const fault = (failure as { root?: { Envelope: { Body: { Fault: { faultcode: string } } } } }).root
      ?.Envelope.Body.Fault;
    expect(fault?.faultcode).toBe('soap:Client');
  });
});

describe('DMT legacy SOAP service: WS-Security UsernameToken on every operation', () => {
  const operations = [
    ['GetVehicle', '<v:GetVehicle><v:RegistrationNumber>CAB-1234</v:RegistrationNumber></v:GetVehicle>'],
    ['GetVehiclesByOwner', OWNER_QUERY],
    ['ListVehicleClasses', '<v:ListVehicleClasses/>'],
  ] as const;

  it.each(operations)(
    '%s without a Security header is refused with a wsse:InvalidSecurity fault (HTTP 500) and no data',
    async (operation, body) => {
      const { status, text } = await postEnvelope(body, operation, null);
      expect(status).toBe(500);
      expect(faultCodeOf(text)).toBe('wsse:InvalidSecurity');
      expect(errorCodeOf(text)).toBe('AUTHENTICATION_REQUIRED');
      expect(text).toContain(`xmlns:wsse="${WSSE}"`);
      for (const leak of ['CAB-1234</', 'Toyota', 'Motorcycle', 'Response']) expect(text).not.toContain(leak);
    },
  );

  it('refuses a wrong password with wsse:FailedAuthentication and no vehicle data', async () => {
    const { status, text } = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ password: 'not-the-password-0123456789' }),
    );
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:FailedAuthentication');
    expect(errorCodeOf(text)).toBe('AUTHENTICATION_FAILED');
    expect(text).not.toContain('BUS-3310');
  });

  it('refuses an unknown username with the same fault as a wrong password', async () => {
    const { status, text } = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ username: 'someone-else' }),
    );
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:FailedAuthentication');
    expect(errorCodeOf(text)).toBe('AUTHENTICATION_FAILED');
    expect(text).not.toContain('BUS-3310');
  });

  it('refuses the right password sent as PasswordText (only a digest travels)', async () => {
    const { status, text } = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ passwordType: 'PasswordText' }),
    );
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:InvalidSecurity');
    expect(errorCodeOf(text)).toBe('INVALID_SECURITY_HEADER');
    expect(text).not.toContain('BUS-3310');
  });

  it('refuses a correct digest whose wsu:Created is older than the accepted 5 minutes', async () => {
    const created = new Date(Date.now() - 6 * 60_000).toISOString();
    const { status, text } = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ created }),
    );
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:FailedAuthentication');
    expect(errorCodeOf(text)).toBe('CREATED_OUT_OF_WINDOW');
    expect(text).not.toContain('BUS-3310');
  });

  it('refuses a correct digest whose wsu:Created is ahead by more than the 60 s clock skew', async () => {
    const created = new Date(Date.now() + 3 * 60_000).toISOString();
    const { status, text } = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ created }),
    );
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:FailedAuthentication');
    expect(errorCodeOf(text)).toBe('CREATED_OUT_OF_WINDOW');
  });

  it('accepts a wsu:Created 4 minutes old, and one 30 s ahead (within the skew)', async () => {
    for (const offsetMs of [-4 * 60_000, 30_000]) {
      const created = new Date(Date.now() + offsetMs).toISOString();
      const { status, text } = await postEnvelope(
        OWNER_QUERY,
        'GetVehiclesByOwner',
        securityHeader({ created }),
      );
      expect(status, `Created ${offsetMs} ms from now`).toBe(200);
      expect(text).toContain('<RegistrationNumber>BUS-3310</RegistrationNumber>');
    }
  });

  it('accepts a correct PasswordDigest and answers the operation with its data', async () => {
    const { status, text } = await postEnvelope(OWNER_QUERY, 'GetVehiclesByOwner');
    expect(status).toBe(200);
    expect(text).toContain('GetVehiclesByOwnerResponse');
    for (const reg of ['BUS-3310', 'KAF-0987', 'NDA-4521']) {
      expect(text).toContain(`<RegistrationNumber>${reg}</RegistrationNumber>`);
    }
  });

  it('refuses the very same message sent twice (a replayed nonce)', async () => {
    const message = envelope(securityHeader(), OWNER_QUERY);
    const first = await postXml(message, 'GetVehiclesByOwner');
    expect(first.status).toBe(200);
    expect(first.text).toContain('BUS-3310');
    const replay = await postXml(message, 'GetVehiclesByOwner');
    expect(replay.status).toBe(500);
    expect(faultCodeOf(replay.text)).toBe('wsse:FailedAuthentication');
    expect(errorCodeOf(replay.text)).toBe('NONCE_REPLAYED');
    expect(replay.text).not.toContain('BUS-3310');
  });

  it('refuses a used nonce under a new wsu:Created and a recomputed digest', async () => {
    const nonce = randomBytes(16);
    const first = await postEnvelope(OWNER_QUERY, 'GetVehiclesByOwner', securityHeader({ nonce }));
    expect(first.status).toBe(200);
    const created = new Date(Date.now() + 1_000).toISOString();
    const again = await postEnvelope(OWNER_QUERY, 'GetVehiclesByOwner', securityHeader({ nonce, created }));
    expect(again.status).toBe(500);
    expect(errorCodeOf(again.text)).toBe('NONCE_REPLAYED');
  });

  it('does not spend a nonce on a wrong password, so it cannot be used to block the real caller', async () => {
    const nonce = randomBytes(16);
    const wrong = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ nonce, password: 'not-the-password-0123456789' }),
    );
    expect(errorCodeOf(wrong.text)).toBe('AUTHENTICATION_FAILED');
    const right = await postEnvelope(OWNER_QUERY, 'GetVehiclesByOwner', securityHeader({ nonce }));
    expect(right.status).toBe(200);
    expect(right.text).toContain('BUS-3310');
  });

  it('refuses a nonce shorter than 16 bytes', async () => {
    const { status, text } = await postEnvelope(
      OWNER_QUERY,
      'GetVehiclesByOwner',
      securityHeader({ nonce: randomBytes(4) }),
    );
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:InvalidSecurity');
    expect(text).not.toContain('BUS-3310');
  });

  it('refuses two Security headers even when one of them is valid', async () => {
    const header = securityHeader() + securityHeader({ password: 'not-the-password-0123456789' });
    const { status, text } = await postEnvelope(OWNER_QUERY, 'GetVehiclesByOwner', header);
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('wsse:InvalidSecurity');
    expect(text).not.toContain('BUS-3310');
  });

  it('refuses a SOAP client library without WS-Security, and surfaces the fault code to it', async () => {
    const bare = await createClientAsync(`${base}/vehicles?wsdl`);
    const failure = await bare.ListVehicleClassesAsync({}).catch((err: unknown) => err);
    const fault = (failure as { root?: { Envelope: { Body: { Fault: { faultcode: string } } } } }).root
      ?.Envelope.Body.Fault;
    expect(fault?.faultcode).toBe('wsse:InvalidSecurity');
  });

  it('refuses a SOAP client library with the wrong password', async () => {
    const wrong = await createClientAsync(`${base}/vehicles?wsdl`);
    wrong.setSecurity(digestSecurity('not-the-password-0123456789'));
    const failure = await wrong.ListVehicleClassesAsync({}).catch((err: unknown) => err);
    const fault = (failure as { root?: { Envelope: { Body: { Fault: { faultcode: string } } } } }).root
      ?.Envelope.Body.Fault;
    expect(fault?.faultcode).toBe('wsse:FailedAuthentication');
  });

  it('serves the WSDL without credentials (it describes the service, it holds no data)', async () => {
    const response = await fetch(`${base}/vehicles?wsdl`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<wsdl:operation name="GetVehiclesByOwner">');
  });
});

describe('DMT legacy SOAP service: nonces are shared by every instance and pruned after their window', () => {
  it('refuses a message replayed to a second instance on the same database', async () => {
    const second = await buildApp(serviceConfig(db.url), testLogger());
    try {
      const secondBase = await second.listen({ port: 0, host: '127.0.0.1' });
      const message = envelope(securityHeader(), OWNER_QUERY);
      expect((await postXml(message, 'GetVehiclesByOwner')).status).toBe(200);
      const replay = await postXml(message, 'GetVehiclesByOwner', secondBase);
      expect(replay.status).toBe(500);
      expect(errorCodeOf(replay.text)).toBe('NONCE_REPLAYED');
    } finally {
      await second.close();
    }
  });

  it('accepts a nonce again once its window has passed (an expired row does not block it)', async () => {
    const nonce = randomBytes(16);
    await withDatabase((client) =>
      client.query('INSERT INTO wsse_nonces (nonce, expires_at) VALUES ($1, $2)', [
        nonce.toString('base64'),
        new Date(Date.now() - 60_000),
      ]),
    );
    // The shared instance pruned on its first request, well under a minute ago: the row is still there.
    const { status, text } = await postEnvelope(OWNER_QUERY, 'GetVehiclesByOwner', securityHeader({ nonce }));
    expect(status).toBe(200);
    expect(text).toContain('BUS-3310');
    const { rows } = await withDatabase((client) =>
      client.query<{ expires_at: Date }>('SELECT expires_at FROM wsse_nonces WHERE nonce = $1', [
        nonce.toString('base64'),
      ]),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.expires_at.getTime()).toBeGreaterThan(Date.now() + 4 * 60_000);
  });

  it('deletes expired nonces, so the table holds about one window of requests', async () => {
    const expired = randomBytes(16).toString('base64');
    const live = randomBytes(16).toString('base64');
    await withDatabase((client) =>
      client.query('INSERT INTO wsse_nonces (nonce, expires_at) VALUES ($1, $2), ($3, $4)', [
        expired,
        new Date(Date.now() - 60_000),
        live,
        new Date(Date.now() + 60_000),
      ]),
    );
    // A fresh instance prunes on its first request.
    const fresh = await buildApp(serviceConfig(db.url), testLogger());
    try {
      const freshBase = await fresh.listen({ port: 0, host: '127.0.0.1' });
      const { status } = await postXml(
        envelope(securityHeader(), OWNER_QUERY),
        'GetVehiclesByOwner',
        freshBase,
      );
      expect(status).toBe(200);
    } finally {
      await fresh.close();
    }
    const { rows } = await withDatabase((client) =>
      client.query<{ nonce: string }>('SELECT nonce FROM wsse_nonces WHERE nonce = ANY($1)', [
        [expired, live],
      ]),
    );
    expect(rows.map((r) => r.nonce)).toEqual([live]);
  });
});

describe('DMT legacy SOAP service: XML with a DOCTYPE', () => {
  it('refuses an internal entity declaration before anything expands it', async () => {
    const xml =
      '<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY reg "BUS-3310">]>' +
      envelope(
        securityHeader(),
        '<v:GetVehicle><v:RegistrationNumber>&reg;</v:RegistrationNumber></v:GetVehicle>',
      ).replace('<?xml version="1.0"?>', '');
    const { status, text } = await postXml(xml, 'GetVehicle');
    expect(status).toBe(500);
    expect(faultCodeOf(text)).toBe('soap:Client');
    expect(errorCodeOf(text)).toBe('MALFORMED_REQUEST');
    expect(text).toContain('DOCTYPE');
    expect(text).not.toContain('Ashok Leyland');
  });

  it('refuses an external entity (XXE) pointing at a local file', async () => {
    const xml =
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
      envelope(
        securityHeader(),
        '<v:GetVehicle><v:RegistrationNumber>&xxe;</v:RegistrationNumber></v:GetVehicle>',
      ).replace('<?xml version="1.0"?>', '');
    const { status, text } = await postXml(xml, 'GetVehicle');
    expect(status).toBe(500);
    expect(errorCodeOf(text)).toBe('MALFORMED_REQUEST');
    expect(text).toContain('DOCTYPE');
    expect(text).not.toContain('root:');
  });
});
