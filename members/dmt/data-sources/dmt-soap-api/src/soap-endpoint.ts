import type { FastifyInstance } from 'fastify';
import { listen, type IServices, type Server as SoapServer } from 'soap';
import { isCanonicalNic } from '@ndx/contract';
import type { Logger } from '@ndx/service-kit';
import type { vehicleRegistry } from './vehicle-registry.ts';
import { parseSoapEnvelope } from './envelope.ts';
import { WSSE_NS, type WssFailure } from './ws-security.ts';
import { SERVICE_PATH, VEHICLE_REGISTRY_NS, vehicleRegistryWsdl } from './wsdl.ts';

/** e.g. CAB-1234: letters and digits, optionally one dash. */
export const REGISTRATION_NUMBER_PATTERN = /^[A-Z0-9]{1,8}(-[A-Z0-9]{1,8})?$/;

/** A SOAP 1.1 fault; the `soap` server turns `Fault` into the fault envelope (HTTP 500, as SOAP 1.1 says). */
export class SoapFault extends Error {
  readonly Fault: Record<string, unknown>;
  constructor(side: 'Client' | 'Server', errorCode: string, message: string) {
    super(message);
    this.Fault = {
      faultcode: `soap:${side}`,
      faultstring: message,
      detail: { VehicleRegistryFault: { ErrorCode: errorCode, Message: message } },
      statusCode: 500,
    };
  }
}

type Registry = ReturnType<typeof vehicleRegistry>;

function requiredText(args: unknown, element: string): string {
  const value = (args as Record<string, unknown> | undefined)?.[element];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new SoapFault('Client', 'MISSING_ARGUMENT', `${element} is required`);
  }
  return value.trim();
}

/** The operations of the WSDL, backed by the register; unexpected errors become a Server fault without internals. */
function vehicleRegistryServices(registry: Registry, logger: Logger): IServices {
  const guarded =
    <T>(operation: string, run: (args: unknown) => Promise<T>) =>
    async (args: unknown): Promise<T> => {
      try {
        return await run(args);
      } catch (err) {
        if (err instanceof SoapFault) throw err;
        logger.error({ err, operation }, 'SOAP operation failed');
        throw new SoapFault('Server', 'INTERNAL_ERROR', 'the vehicle registry could not answer');
      }
    };
  return {
    VehicleRegistryService: {
      VehicleRegistryPort: {
        GetVehicle: guarded('GetVehicle', async (args) => {
          const registrationNumber = requiredText(args, 'RegistrationNumber');
          if (!REGISTRATION_NUMBER_PATTERN.test(registrationNumber)) {
            throw new SoapFault(
              'Client',
              'INVALID_REGISTRATION_NUMBER',
              'RegistrationNumber must be letters and digits with at most one dash, e.g. CAB-1234',
            );
          }
          const vehicle = await registry.byRegistrationNumber(registrationNumber);
          return vehicle ? { Vehicle: vehicle } : {};
        }),
        GetVehiclesByOwner: guarded('GetVehiclesByOwner', async (args) => {
          const ownerNic = requiredText(args, 'OwnerNic');
          if (!isCanonicalNic(ownerNic)) {
            throw new SoapFault(
              'Client',
              'INVALID_NIC',
              'OwnerNic must be 9 digits followed by V or X, or 12 digits',
            );
          }
          return { Vehicle: await registry.byOwner(ownerNic) };
        }),
        ListVehicleClasses: guarded('ListVehicleClasses', async () => ({
          VehicleClass: await registry.classes(),
        })),
      },
    },
  };
}

/**
 * A SOAP 1.1 fault envelope this endpoint writes itself (requests refused before the SOAP layer sees
 * them); `wsse` is declared so WS-Security fault codes are proper QNames.
 */
function faultEnvelope(faultCode: string, errorCode: string, message: string): string {
  const escaped = message.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
  return (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' +
    `xmlns:wsse="${WSSE_NS}"><soap:Body><soap:Fault><faultcode>${faultCode}</faultcode><faultstring>${escaped}</faultstring>` +
    `<detail><VehicleRegistryFault xmlns="${VEHICLE_REGISTRY_NS}"><ErrorCode>${errorCode}</ErrorCode>` +
    `<Message>${escaped}</Message></VehicleRegistryFault></detail></soap:Fault></soap:Body></soap:Envelope>`
  );
}

async function createSoapServer(services: IServices): Promise<SoapServer> {
  return new Promise((resolve, reject) => {
    listen(null, {
      path: SERVICE_PATH,
      services,
      xml: vehicleRegistryWsdl(`http://127.0.0.1${SERVICE_PATH}`),
      suppressStack: true,
      enableChunkedEncoding: false,
      callback: (err: unknown, server: SoapServer) => (err ? reject(err) : resolve(server)),
    });
  });
}

/**
 * Registers the SOAP endpoint on the service: GET /vehicles?wsdl (the WSDL, its address set to
 * publicUrl or to the Host the client used; public) and POST /vehicles (SOAP 1.1 requests, each
 * answered only when `authenticate` accepts it, else with its WS-Security fault).
 */
export async function registerSoapEndpoint(
  app: FastifyInstance,
  registry: Registry,
  logger: Logger,
  publicUrl: string | undefined,
  authenticate: (envelope: Element) => Promise<WssFailure | undefined>,
): Promise<void> {
  const soap = await createSoapServer(vehicleRegistryServices(registry, logger));
  soap.on('request', (_request: unknown, operation: string) => logger.debug({ operation }, 'SOAP request'));

  app.addContentTypeParser(
    ['text/xml', 'application/soap+xml', 'application/xml'],
    { parseAs: 'string' },
    (_request, body, done) => done(null, body),
  );

  app.get(SERVICE_PATH, async (request, reply) => {
    const wantsWsdl = /[?&]wsdl(=|&|$)/i.test(request.url);
    if (!wantsWsdl) {
      return reply
        .status(400)
        .type('text/plain; charset=utf-8')
        .send(`SOAP endpoint: POST SOAP 1.1 envelopes here; the WSDL is at ${SERVICE_PATH}?wsdl\n`);
    }
    const host = request.headers.host;
    const base =
      publicUrl ?? (host && /^[\w.\-:[\]]+$/.test(host) ? `http://${host}` : 'http://127.0.0.1:9093');
    return reply
      .type('text/xml; charset=utf-8')
      .send(vehicleRegistryWsdl(`${base.replace(/\/$/, '')}${SERVICE_PATH}`));
  });

  app.post(SERVICE_PATH, async (request, reply) => {
    const xml = typeof request.body === 'string' ? request.body : '';
    reply.type('text/xml; charset=utf-8');
    const malformed = (message = 'the request is not a SOAP envelope this service understands') =>
      reply.status(500).send(faultEnvelope('soap:Client', 'MALFORMED_REQUEST', message));
    const parsed = parseSoapEnvelope(xml);
    if ('refused' in parsed) return malformed(parsed.refused);
    // Every operation: no vehicle data without a valid WS-Security UsernameToken.
    let refused: WssFailure | undefined;
    try {
      refused = await authenticate(parsed.envelope);
    } catch (err) {
      logger.error({ err }, 'WS-Security check failed');
      return reply
        .status(500)
        .send(faultEnvelope('soap:Server', 'INTERNAL_ERROR', 'the vehicle registry could not answer'));
    }
    if (refused) {
      logger.warn({ faultCode: refused.faultCode, errorCode: refused.errorCode }, 'SOAP request refused');
      return reply.status(500).send(faultEnvelope(refused.faultCode, refused.errorCode, refused.message));
    }
    const answer = await soap.processRequest(xml, {
      method: 'POST',
      url: SERVICE_PATH,
      headers: request.headers as Record<string, string>,
    });
    // The soap package answers unparseable XML with a bare message or an "Invalid XML" fault
    // carrying parser internals; answer with a plain client fault instead.
    if (
      !answer.body.includes(':Envelope') ||
      answer.body.includes('<faultstring>Invalid XML</faultstring>')
    ) {
      return malformed();
    }
    return reply.status(answer.statusCode).send(answer.body);
  });
}
