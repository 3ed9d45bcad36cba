import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { asArray, createAdapter, jwtAuth, nicRule, soapField, soapSource } from '@ndx/adapter-kit';
import { defineService, type Logger } from '@ndx/service-kit';
import { readConfig, type Config } from './config.ts';
import { SCHEMA_ID, sdl } from './schema.ts';

export const SERVICE_NAME = 'dmt-api-adapter';

/** The legacy WSDL's element names (PascalCase), as the SOAP client returns them. */
const soapClass = z.object({ ClassCode: z.string(), ClassName: z.string() });
const soapVehicle = z.object({
  RegistrationNumber: z.string(),
  Make: z.string(),
  Model: z.string(),
  YearOfManufacture: z.coerce.number().int(),
  Classes: z.object({ VehicleClass: z.union([soapClass, z.array(soapClass)]).optional() }).nullish(),
});
type SoapVehicle = z.infer<typeof soapVehicle>;
type SoapClass = z.infer<typeof soapClass>;

const toClass = (c: SoapClass) => ({ classCode: c.ClassCode, className: c.ClassName });
const toVehicle = (v: SoapVehicle) => ({
  registrationNumber: v.RegistrationNumber,
  make: v.Make,
  model: v.Model,
  yearOfManufacture: v.YearOfManufacture,
  classes: asArray(v.Classes?.VehicleClass).map(toClass),
});

const registrationNumberRule = {
  pattern: /^[A-Z0-9]{1,8}(-[A-Z0-9]{1,8})?$/,
  description: 'a registration number: letters and digits with at most one dash, e.g. CAB-1234',
};

/**
 * Builds the DMT adapter: GraphQL vehicles answered by the legacy SOAP service; FUDI JWT inbound,
 * a WS-Security UsernameToken (PasswordDigest) outbound.
 */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const dmt = soapSource({
    name: 'dmt-soap-api',
    url: config.DMT_SOAP_URL,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    usernameToken: { username: config.DMT_SOAP_USERNAME, password: config.DMT_SOAP_PASSWORD },
  });
  return createAdapter({
    name: SERVICE_NAME,
    schemaId: SCHEMA_ID,
    sdl,
    logger,
    auth: jwtAuth({
      issuer: config.FUDI_ISSUER,
      audience: config.FUDI_AUDIENCE,
      ...(config.FUDI_JWKS_URI ? { jwksUri: config.FUDI_JWKS_URI } : {}),
      ...(config.ALLOWED_CLIENT_IDS.length > 0 ? { allowedClientIds: config.ALLOWED_CLIENT_IDS } : {}),
    }),
    sources: [dmt],
    query: {
      vehicle: {
        arguments: { regNo: registrationNumberRule },
        fetch: soapField(dmt, {
          operation: 'GetVehicle',
          input: (args) => ({ RegistrationNumber: args['regNo'] }),
          response: z.object({ Vehicle: soapVehicle.optional() }),
          map: (result) => (result.Vehicle ? toVehicle(result.Vehicle) : null),
        }),
      },
      vehiclesByOwner: {
        arguments: { ownerNic: nicRule },
        fetch: soapField(dmt, {
          operation: 'GetVehiclesByOwner',
          input: (args) => ({ OwnerNic: args['ownerNic'] }),
          response: z.object({ Vehicle: z.union([soapVehicle, z.array(soapVehicle)]).optional() }),
          map: (result) => asArray(result.Vehicle).map(toVehicle),
        }),
      },
      vehicleClasses: {
        fetch: soapField(dmt, {
          operation: 'ListVehicleClasses',
          input: () => ({}),
          response: z.object({ VehicleClass: z.union([soapClass, z.array(soapClass)]).optional() }),
          map: (result) => asArray(result.VehicleClass).map(toClass),
        }),
      },
    },
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
