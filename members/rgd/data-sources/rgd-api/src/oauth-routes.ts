import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Pool } from '@ndx/service-kit';
import type { AccessTokens } from './access-tokens.ts';
import { authenticateClient } from './oauth-clients.ts';
import type { SigningKey } from './signing-key.ts';

export interface OAuthRoutesOptions {
  pool: Pool;
  tokens: AccessTokens;
  key: SigningKey;
  issuer: string;
}

/** An RFC 6749 error answer: `{ error, error_description }`. */
class OAuthProblem {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  constructor(status: number, error: string, description: string) {
    this.status = status;
    this.error = error;
    this.description = description;
  }
}

/**
 * RGD's OAuth2 authorisation server (client credentials grant only): POST /oauth2/token with the
 * client authenticated by HTTP Basic or by client_id/client_secret in the form body,
 * GET /oauth2/jwks and GET /.well-known/oauth-authorization-server.
 */
export async function oauthRoutes(app: FastifyInstance, options: OAuthRoutesOptions): Promise<void> {
  await app.register(formbody);

  app.post('/oauth2/token', async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    try {
      const form = formOf(request.body);
      const credentials = clientCredentialsOf(request.headers.authorization, form);
      const grantType = form.grant_type;
      if (!grantType) throw new OAuthProblem(400, 'invalid_request', 'grant_type is required');
      if (grantType !== 'client_credentials') {
        throw new OAuthProblem(400, 'unsupported_grant_type', 'only client_credentials is supported');
      }
      const client = await authenticateClient(options.pool, credentials.clientId, credentials.clientSecret);
      if (!client) {
        throw new OAuthProblem(401, 'invalid_client', 'client authentication failed');
      }
      const requested = form.scope ? form.scope.split(' ').filter(Boolean) : client.scopes;
      const unknown = requested.filter((s) => !client.scopes.includes(s));
      if (unknown.length > 0) {
        throw new OAuthProblem(
          400,
          'invalid_scope',
          `scope not allowed for this client: ${unknown.join(' ')}`,
        );
      }
      const issued = await options.tokens.issue(client.clientId, requested);
      request.log.info({ clientId: client.clientId }, 'access token issued');
      return {
        access_token: issued.accessToken,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        scope: issued.scope,
      };
    } catch (err) {
      if (err instanceof OAuthProblem) return sendProblem(reply, err, request.log);
      throw err;
    }
  });

  app.get('/oauth2/jwks', async () => ({ keys: [options.key.publicJwk] }));

  app.get('/.well-known/oauth-authorization-server', async () => ({
    issuer: options.issuer,
    token_endpoint: `${options.issuer}/oauth2/token`,
    jwks_uri: `${options.issuer}/oauth2/jwks`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  }));
}

function sendProblem(reply: FastifyReply, problem: OAuthProblem, log: FastifyReply['log']): FastifyReply {
  log.info({ error: problem.error, status: problem.status }, 'token request rejected');
  if (problem.status === 401) reply.header('www-authenticate', 'Basic realm="rgd", charset="UTF-8"');
  return reply.status(problem.status).send({ error: problem.error, error_description: problem.description });
}

/** The form body as single string values; a repeated parameter is an invalid request (RFC 6749 §3.2). */
function formOf(body: unknown): Record<string, string> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object') throw new OAuthProblem(400, 'invalid_request', 'the body must be a form');
  const form: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string')
      throw new OAuthProblem(400, 'invalid_request', `parameter ${name} is repeated or not text`);
    form[name] = value;
  }
  return form;
}

function clientCredentialsOf(
  authorization: string | undefined,
  form: Record<string, string>,
): { clientId: string; clientSecret: string } {
  const basic = authorization ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization) : null;
  if (authorization && !basic) {
    throw new OAuthProblem(
      401,
      'invalid_client',
      'only HTTP Basic client authentication is accepted in the header',
    );
  }
  if (basic) {
    if (form.client_secret !== undefined) {
      throw new OAuthProblem(400, 'invalid_request', 'use one client authentication method, not two');
    }
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OAuthProblem(401, 'invalid_client', 'malformed Basic credentials');
    try {
      const clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      const clientSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      if (form.client_id !== undefined && form.client_id !== clientId) {
        throw new OAuthProblem(
          400,
          'invalid_request',
          'client_id in the body differs from the Basic credentials',
        );
      }
      return { clientId, clientSecret };
    } catch (err) {
      if (err instanceof OAuthProblem) throw err;
      throw new OAuthProblem(401, 'invalid_client', 'malformed Basic credentials');
    }
  }
  if (!form.client_id || form.client_secret === undefined) {
    throw new OAuthProblem(
      401,
      'invalid_client',
      'client authentication is required (HTTP Basic or client_id and client_secret)',
    );
  }
  return { clientId: form.client_id, clientSecret: form.client_secret };
}
