import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  GraphQLError,
  buildSchema,
  execute,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { z } from 'zod';
import { isCanonicalNic } from '@ndx/contract';
import { UnauthenticatedError, type Pool } from '@ndx/service-kit';
import type { AccessTokens } from './access-tokens.ts';
import { findBirthRecordByNic, type PersonData } from './birth-records.ts';

/** The provider contract (schema id abc-212), served as-is at GET /graphql/schema.graphql. */
export const schemaSdl = readFileSync(join(import.meta.dirname, '..', 'schema.graphql'), 'utf8');
export const SCHEMA_ID = 'abc-212';
const schema = buildSchema(schemaSdl);
const MAX_TOKENS = 2_000;

export interface GraphqlRoutesOptions {
  pool: Pool;
  tokens: AccessTokens;
}

const requestBody = z.object({
  query: z.string().min(1).max(20_000),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().max(200).nullish(),
});

/** POST /graphql (bearer token from /oauth2/token required) and GET /graphql/schema.graphql (public). */
export async function graphqlRoutes(app: FastifyInstance, options: GraphqlRoutesOptions): Promise<void> {
  const rootValue = {
    healthCheck: () => 'OK',
    getPersonInfo: async ({ nic }: { nic: string }): Promise<PersonData | null> => {
      if (!isCanonicalNic(nic)) {
        throw new GraphQLError(
          `"${nic.slice(0, 40)}" is not a valid NIC: use 9 digits and V or X (old format) or 12 digits (new format)`,
          { extensions: { code: 'BAD_USER_INPUT' } },
        );
      }
      return findBirthRecordByNic(options.pool, nic);
    },
  };

  app.get('/graphql/schema.graphql', async (_request, reply) =>
    reply.type('text/plain; charset=utf-8').header('x-schema-id', SCHEMA_ID).send(schemaSdl),
  );

  app.post('/graphql', async (request, reply) => {
    try {
      const caller = await options.tokens.verify(bearerToken(request.headers.authorization));
      request.log.debug({ clientId: caller.clientId }, 'caller authenticated');
    } catch (err) {
      if (!(err instanceof UnauthenticatedError)) throw err;
      // RFC 6750 §3: no error code when the request carried no credentials at all.
      const challenge = request.headers.authorization
        ? 'Bearer realm="rgd", error="invalid_token"'
        : 'Bearer realm="rgd"';
      reply.header('www-authenticate', challenge);
      return sendErrors(reply, 401, [{ message: err.message, extensions: { code: 'UNAUTHENTICATED' } }]);
    }

    const body = requestBody.safeParse(request.body);
    if (!body.success) {
      const message = body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return sendErrors(reply, 400, [
        { message: `invalid GraphQL request: ${message}`, extensions: { code: 'BAD_REQUEST' } },
      ]);
    }
    let document: DocumentNode;
    try {
      document = parse(body.data.query, { maxTokens: MAX_TOKENS });
    } catch (err) {
      const error = err instanceof GraphQLError ? err : new GraphQLError(String(err));
      return sendErrors(reply, 400, [{ ...error.toJSON(), extensions: { code: 'GRAPHQL_PARSE_FAILED' } }]);
    }
    const invalid = validate(schema, document);
    if (invalid.length > 0) {
      return sendErrors(
        reply,
        400,
        invalid.map((e) => ({ ...e.toJSON(), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })),
      );
    }
    const result = (await execute({
      schema,
      document,
      rootValue,
      variableValues: body.data.variables ?? undefined,
      operationName: body.data.operationName ?? undefined,
    })) as ExecutionResult;
    const errors = result.errors?.map((error) => formatError(error, request.log));
    if (!('data' in result) || result.data === undefined) {
      // The operation could not run at all (e.g. variables that do not fit their types).
      return sendErrors(
        reply,
        400,
        errors?.map((e) => ({ ...e, extensions: { code: 'BAD_USER_INPUT' } })) ?? [],
      );
    }
    return reply.send(errors ? { errors, data: result.data } : { data: result.data });
  });
}

function bearerToken(header: string | undefined): string {
  const match = header ? /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(header) : null;
  if (!match) throw new UnauthenticatedError('a bearer access token from /oauth2/token is required');
  return match[1]!;
}

/** Errors we raised keep their message and code; anything else is logged and masked. */
function formatError(error: GraphQLError, log: FastifyReply['log']): GraphQLFormattedError {
  const code = error.extensions?.code;
  if (typeof code === 'string' || !error.originalError) return error.toJSON();
  log.error({ err: error.originalError, path: error.path }, 'resolver failed');
  return { ...error.toJSON(), message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

function sendErrors(reply: FastifyReply, status: number, errors: GraphQLFormattedError[]): FastifyReply {
  return reply.status(status).send({ errors });
}
