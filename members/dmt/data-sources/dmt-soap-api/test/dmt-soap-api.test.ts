import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createClientAsync, type Client } from 'soap';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { fixtureClasses, fixtureVehicles, insertFixtureVehicles } from '../testing/index.ts';

let db: TestDatabase;
let app: FastifyInstance;
let base: string;
let client: Client;

const NS = 'http://dmt.farajaland.example/vehicle-registry/v1';

beforeAll(async () => {
  db = await createTestDatabase('dmt_soap');
  app = await buildApp(readConfig({ DATABASE_URL: db.url }), testLogger());
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  await insertFixtureVehicles(db.url);
  client = await createClientAsync(`${base}/vehicles?wsdl`);
});

afterAll(async () => {
  await app?.close();
  await db?.drop();
});

/** Posts a raw SOAP 1.1 envelope with the given body content. */
async function postEnvelope(body: string, operation: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${base}/vehicles`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${NS}/${operation}"` },
    body:
      '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' +
      `xmlns:v="${NS}"><soap:Body>${body}</soap:Body></soap:Envelope>`,
  });
  return { status: response.status, text: await response.text() };
}

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
