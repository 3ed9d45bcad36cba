import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceName } from '@ndx/stack';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/**
 * Hostile input for the legacy systems behind NDX. XML with a DOCTYPE (external entities naming a local file or
 * a loopback URL, external DTDs, entity-expansion bombs) sent straight to the DMT SOAP service, with valid
 * WS-Security credentials, is refused before any parser expands or fetches anything; the same payloads as
 * arguments of the DMT adapter's GraphQL API are BAD_USER_INPUT before any SOAP call. Injection attempts in NICs
 * and registration numbers sent through the OE are BAD_USER_INPUT and never reach a legacy API or its SQL:
 * the legacy services' own request counters (their /metrics) do not move.
 */

const NS = 'http://dmt.farajaland.example/vehicle-registry/v1';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const TOKEN_PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';
/** Routes every service has that no caller of its API touches. */
const HOUSEKEEPING = new Set(['/metrics', '/health', '/ready']);
/** The services that hold citizen or vehicle data in SQL, or are the legacy APIs. */
const LEGACY: ServiceName[] = ['dmt-soap-api', 'drp-api', 'rgd-api'];

let t: TestStack;
/** A loopback server an attacker's entity or XInclude would make the parser fetch; it counts every hit. */
let trap: Server;
let trapHits: string[] = [];
let trapUrl: string;

beforeAll(async () => {
  trap = createServer((request, response) => {
    trapHits.push(request.url ?? '');
    response.setHeader('content-type', 'application/xml-dtd');
    response.end('<!ENTITY leaked "fetched-from-the-trap">');
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
  t = await startTestStack({ only: ['orchestration-engine'] });
  await openTrafficGrantAllDay();
}, 240_000);

afterAll(async () => {
  await t?.stop();
  await new Promise((resolve) => trap?.close(resolve));
});

/** The traffic police grant without its shift window, so that vehicle(regNo:) reaches the adapter at any hour. */
async function openTrafficGrantAllDay(): Promise<void> {
  const operator = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
  const pdp = `${t.url('policy-decision-point')}/admin/v1`;
  const listed = await fetch(`${pdp}/grants`, { headers: { authorization: `Bearer ${operator}` } });
  const grants = ((await listed.json()) as { grants: { consumerId: string; fields: unknown[] }[] }).grants;
  const grant = grants.find((g) => g.consumerId === 'traffic-police-app')!;
  const response = await fetch(`${pdp}/grants/traffic-police-app/traffic-enforcement`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      reason: 'legacy input test: any hour',
      activate: true,
      fields: grant.fields,
      legalBasis: 'legal-obligation',
      window: null,
    }),
  });
  expect(response.status).toBe(201);
}

/** Requests a service answered on its API routes (not /metrics, /health, /ready), from its own /metrics. */
async function apiRequests(service: ServiceName): Promise<number> {
  const text = await (await fetch(`${t.url(service)}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^http_requests_total\{([^}]*)\} (\d+)/.exec(line);
    const route = match ? /route="([^"]*)"/.exec(match[1]!)?.[1] : undefined;
    if (match && route !== undefined && !HOUSEKEEPING.has(route)) total += Number(match[2]);
  }
  return total;
}

async function legacyRequests(): Promise<Record<string, number>> {
  return Object.fromEntries(await Promise.all(LEGACY.map(async (s) => [s, await apiRequests(s)] as const)));
}

async function residentBytes(service: ServiceName): Promise<number> {
  const text = await (await fetch(`${t.url(service)}/metrics`)).text();
  return Number(/^process_resident_memory_bytes(?:\{[^}]*\})? (\d+)/m.exec(text)![1]);
}

/** A valid WS-Security UsernameToken (PasswordDigest) of the DMT adapter's account, fresh nonce and Created. */
function securityHeader(): string {
  const nonce = randomBytes(16);
  const created = new Date().toISOString();
  const digest = createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created), Buffer.from(t.secret('dmt.soap-password'))]))
    .digest('base64');
  return (
    `<wsse:Security xmlns:wsse="${WSSE}" xmlns:wsu="${WSU}"><wsse:UsernameToken>` +
    '<wsse:Username>ndx-dmt-adapter</wsse:Username>' +
    `<wsse:Password Type="${TOKEN_PROFILE}#PasswordDigest">${digest}</wsse:Password>` +
    `<wsse:Nonce>${nonce.toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created>` +
    '</wsse:UsernameToken></wsse:Security>'
  );
}

/** A GetVehicle envelope with valid credentials, `prolog` before it and `registrationNumber` as raw XML. */
function getVehicle(prolog: string, registrationNumber: string): string {
  return (
    `<?xml version="1.0"?>${prolog}<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
    `xmlns:v="${NS}"><soap:Header>${securityHeader()}</soap:Header><soap:Body><v:GetVehicle>` +
    `<v:RegistrationNumber>${registrationNumber}</v:RegistrationNumber></v:GetVehicle></soap:Body></soap:Envelope>`
  );
}

async function postSoap(
  body: string | Uint8Array<ArrayBuffer>,
  contentType = 'text/xml; charset=utf-8',
): Promise<{ status: number; text: string; faultCode?: string; errorCode?: string }> {
  const response = await fetch(`${t.url('dmt-soap-api')}/vehicles`, {
    method: 'POST',
    headers: { 'content-type': contentType, soapaction: `"${NS}/GetVehicle"` },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    ...(/<faultcode>([^<]*)<\/faultcode>/.exec(text)
      ? { faultCode: /<faultcode>([^<]*)</.exec(text)![1] }
      : {}),
    ...(/<ErrorCode>([^<]*)<\/ErrorCode>/.exec(text)
      ? { errorCode: /<ErrorCode>([^<]*)</.exec(text)![1] }
      : {}),
  };
}

/** The refusal of XML with a DOCTYPE: a client fault naming it, and nothing of a file, the trap or a vehicle. */
function expectDoctypeRefused(answer: Awaited<ReturnType<typeof postSoap>>): void {
  expect({ status: answer.status, faultCode: answer.faultCode, errorCode: answer.errorCode }).toEqual({
    status: 500,
    faultCode: 'soap:Client',
    errorCode: 'MALFORMED_REQUEST',
  });
  expect(answer.text).toContain('XML with a DOCTYPE or entity declaration is refused');
  for (const leak of ['root:', 'fetched-from-the-trap', 'Toyota', 'lol'])
    expect(answer.text).not.toContain(leak);
}

const lols = (levels: number) => {
  const entities = ['<!ENTITY lol0 "lol">'];
  for (let i = 1; i < levels; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
  return `<!DOCTYPE soap:Envelope [${entities.join('')}]>`;
};

describe('XML with a DOCTYPE sent straight to the DMT SOAP service (with valid WS-Security)', () => {
  it('answers the same envelope without a DOCTYPE with the vehicle (the control)', async () => {
    const answer = await postSoap(getVehicle('', 'CAB-1234'));
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('Toyota');
  });

  it('refuses an external entity naming /etc/passwd: nothing of the file comes back', async () => {
    expectDoctypeRefused(
      await postSoap(
        getVehicle('<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', '&xxe;'),
      ),
    );
  });

  it('refuses external entities and an external DTD on a loopback URL: the URL is never fetched', async () => {
    trapHits = [];
    const before = await apiRequests('dmt-soap-api');
    const prologs = [
      `<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "${trapUrl}/entity">]>`,
      `<!DOCTYPE soap:Envelope [<!ENTITY % dtd SYSTEM "${trapUrl}/parameter-entity"> %dtd;]>`,
      `<!DOCTYPE soap:Envelope SYSTEM "${trapUrl}/external-dtd">`,
      `<!DOCTYPE soap:Envelope PUBLIC "-//NDX//attack" "${trapUrl}/public-dtd">`,
    ];
    for (const prolog of prologs) expectDoctypeRefused(await postSoap(getVehicle(prolog, '&xxe;')));
    // Give any fetch the parser might have started in the background time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(trapHits).toEqual([]);
    expect(await apiRequests('dmt-soap-api')).toBe(before + prologs.length);
  });

  it('refuses a billion-laughs bomb without expanding it: memory stays flat and the service answers after', async () => {
    const rssBefore = await residentBytes('dmt-soap-api');
    // 10^9 "lol"s if expanded (3 GB); and a quadratic blow-up of one big entity referenced many times.
    const quadratic = `<!DOCTYPE soap:Envelope [<!ENTITY big "${'x'.repeat(20_000)}">]>`;
    for (const prolog of [lols(10), quadratic]) {
      const reference = prolog === quadratic ? '&big;'.repeat(2_000) : '&lol9;';
      expectDoctypeRefused(await postSoap(getVehicle(prolog, reference)));
    }
    const rssAfter = await residentBytes('dmt-soap-api');
    expect(rssAfter - rssBefore, 'resident memory growth (bytes)').toBeLessThan(64 * 1024 * 1024);
    const control = await postSoap(getVehicle('', 'CAB-1234'));
    expect({ status: control.status, toyota: control.text.includes('Toyota') }).toEqual({
      status: 200,
      toyota: true,
    });
  });

  it('refuses the DOCTYPE in lower case, after a comment and a processing instruction, and split over lines', async () => {
    const variants = [
      '<!doctype soap:Envelope [<!entity xxe SYSTEM "file:///etc/passwd">]>',
      '<!-- a comment --><?pi data?><!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
      '\n<!DOCTYPE\n soap:Envelope\n [\n <!ENTITY\n xxe\n SYSTEM\n "file:///etc/passwd">\n ]\n>',
    ];
    for (const prolog of variants) expectDoctypeRefused(await postSoap(getVehicle(prolog, '&xxe;')));
  });

  it('refuses the bomb encoded as UTF-16 (which a UTF-8 scan for "<!DOCTYPE" would not see) as malformed', async () => {
    const xml = getVehicle(lols(10), '&lol9;').replace(
      '<?xml version="1.0"?>',
      '<?xml version="1.0" encoding="UTF-16"?>',
    );
    const utf16 = new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]));
    const answer = await postSoap(utf16, 'text/xml; charset=utf-16');
    expect({ status: answer.status, faultCode: answer.faultCode, errorCode: answer.errorCode }).toEqual({
      status: 500,
      faultCode: 'soap:Client',
      errorCode: 'MALFORMED_REQUEST',
    });
    expect(answer.text).not.toContain('lol');
  });

  it('does not process an XInclude naming /etc/passwd or the loopback URL: a client fault, nothing fetched', async () => {
    trapHits = [];
    for (const href of ['file:///etc/passwd', `${trapUrl}/xinclude`]) {
      const include = `<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="${href}" parse="text"/>`;
      const answer = await postSoap(getVehicle('', include));
      expect({ status: answer.status, faultCode: answer.faultCode }).toEqual({
        status: 500,
        faultCode: 'soap:Client',
      });
      expect(answer.text).not.toContain('root:');
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(trapHits).toEqual([]);
  });
});

interface GraphQLAnswer {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

async function graphql(url: string, token: string, query: string, variables = {}): Promise<GraphQLAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, ...((await response.json()) as Omit<GraphQLAnswer, 'status'>) };
}

const codes = (answer: GraphQLAnswer) => (answer.errors ?? []).map((e) => e.extensions?.code);

/** XML payloads as they would be typed into a GraphQL string argument. */
const XML_PAYLOADS = [
  `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>&xxe;`,
  `CAB-1234</RegistrationNumber></v:GetVehicle><v:GetVehiclesByOwner><v:OwnerNic>199560201234</v:OwnerNic>`,
  '&xxe;',
  ']]><![CDATA[',
];

describe('the same payloads as arguments of the DMT adapter’s GraphQL API', () => {
  it('are BAD_USER_INPUT for vehicle(regNo:) and vehiclesByOwner(ownerNic:), and no SOAP call is made', async () => {
    const token = await t.clientToken('orchestration-engine', 'urn:dmt:vehicles');
    const adapter = `${t.url('dmt-api-adapter')}/graphql`;
    const control = await graphql(adapter, token, 'query($r: ID!) { vehicle(regNo: $r) { make } }', {
      r: 'CAB-1234',
    });
    expect(control.data).toEqual({ vehicle: { make: 'Toyota' } });

    const before = await apiRequests('dmt-soap-api');
    for (const payload of [...XML_PAYLOADS, lols(10)]) {
      for (const query of [
        'query($p: ID!) { vehicle(regNo: $p) { make } }',
        'query($p: ID!) { vehiclesByOwner(ownerNic: $p) { make } }',
      ]) {
        const answer = await graphql(adapter, token, query, { p: payload });
        expect(codes(answer), `${query} ${payload}`).toEqual(['BAD_USER_INPUT']);
        expect(JSON.stringify(answer.data ?? null)).not.toContain('Toyota');
      }
    }
    expect(await apiRequests('dmt-soap-api')).toBe(before);
    expect(trapHits).toEqual([]);
  });
});

/** Injection attempts in a NIC: SQL, XML and JSON meta-characters, path traversal, encodings, long strings. */
const NIC_ATTACKS = [
  "199560201234' OR '1'='1",
  '199560201234; DROP TABLE persons; --',
  "' UNION SELECT password FROM accounts --",
  '199560201234"}',
  '<nic>&xxe;</nic>',
  ...XML_PAYLOADS,
  '../../../../etc/passwd',
  '199560201234/../../admin',
  '..%2F..%2Fetc%2Fpasswd',
  '199560201234%00',
  '199560201234\u0000',
  '１９９５６０２０１２３４', // full-width digits
  '١٩٩٥٦٠٢٠١٢٣٤', // Arabic-Indic digits
  '1'.repeat(10_000),
  '9'.repeat(9) + 'V'.repeat(5_000),
];

/** The same for a registration number. */
const REG_NO_ATTACKS = [
  "CAB-1234' OR '1'='1",
  'CAB-1234; DROP TABLE vehicles; --',
  ...XML_PAYLOADS,
  '<![CDATA[CAB-1234]]>',
  '../../../../etc/passwd',
  'CAB-1234%00',
  'CAB-1234\u0000',
  'A'.repeat(10_000),
];

describe('injection attempts in NICs and registration numbers sent through the OE', () => {
  it('a NIC that is not a NIC is BAD_USER_INPUT at the OE, and no legacy API or its SQL is reached', async () => {
    const token = await t.clientToken('passport-app', 'urn:ndx:api');
    const oe = `${t.url('orchestration-engine')}/graphql`;
    const query = 'query($n: ID!) { personInfo(nic: $n) { name fullName address ownedVehicles { make } } }';
    const before = await legacyRequests();
    for (const nic of NIC_ATTACKS) {
      const answer = await graphql(oe, token, query, { n: nic });
      expect(codes(answer), nic.slice(0, 60)).toEqual(['BAD_USER_INPUT']);
      expect(answer.data ?? null).toBeNull();
    }
    // The same attacks written into the query text instead of a variable.
    for (const nic of NIC_ATTACKS.slice(0, 6)) {
      const answer = await graphql(oe, token, `{ personInfo(nic: ${JSON.stringify(nic)}) { name } }`);
      expect(codes(answer), nic).toEqual(['BAD_USER_INPUT']);
    }
    expect(await legacyRequests()).toEqual(before);
  });

  it('a registration number that is not one is BAD_USER_INPUT, and the SOAP service and its SQL are not reached', async () => {
    const token = await t.clientToken('traffic-police-app', 'urn:ndx:api');
    const oe = `${t.url('orchestration-engine')}/graphql`;
    const query = 'query($r: ID!) { vehicle(regNo: $r) { make model } }';
    const control = await graphql(oe, token, query, { r: 'CAB-1234' });
    expect(control.data).toEqual({ vehicle: { make: 'Toyota', model: 'Vitz' } });

    const before = await legacyRequests();
    for (const regNo of REG_NO_ATTACKS) {
      const answer = await graphql(oe, token, query, { r: regNo });
      expect(codes(answer), regNo.slice(0, 60)).toEqual(['BAD_USER_INPUT']);
      // Refused by the adapter's format rule (the field is null), or before execution by the OE's own limit on
      // argument length and characters (no data at all): either way nothing about a vehicle is answered.
      expect(answer.data?.vehicle ?? null).toBeNull();
    }
    expect(await legacyRequests()).toEqual(before);
    expect(trapHits).toEqual([]);
  });
});
