import type { AddressInfo } from 'node:net';
import { createTestDatabase, freePort, randomSecret, testLogger } from '@ndx/service-kit/testing';
import { buildIdentityProvider, type IdentityProvider, type IdentityProviderOptions } from '../src/app.ts';
import { readConfig } from '../src/config.ts';

export interface TestClientCredentials {
  clientId: string;
  clientSecret: string;
}

export interface TestIdentityProvider {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  issuer: string;
  jwksUri: string;
  tokenUrl: string;
  /** A confidential client_credentials client for the given resource indicators (audiences). */
  addServiceClient(options: {
    clientId: string;
    resources: string[];
    scopes?: string[];
  }): Promise<TestClientCredentials>;
  /** An authorization-code (+ PKCE, + refresh token) client; public clients get no secret. */
  addWebClient(options: {
    clientId: string;
    redirectUris: string[];
    resources?: string[];
    public?: boolean;
    postLogoutRedirectUris?: string[];
  }): Promise<{ clientId: string; clientSecret?: string }>;
  /** A client-credentials access token (JWT, aud = resource) from the real token endpoint. */
  clientCredentialsToken(client: TestClientCredentials, resource: string, scope?: string): Promise<string>;
  /** Creates (or resets) an account; the NIC is the subject of its tokens, roles its `roles` claim. */
  addCitizen(citizen: {
    nic: string;
    name: string;
    password: string;
    totpSecret?: string;
    roles?: string[];
  }): Promise<void>;
  stop(): Promise<void>;
  /** The running FUDI's internals, for FUDI's own tests. */
  internals: IdentityProvider;
}

/**
 * Starts the real FUDI in-process on an ephemeral loopback port with a fresh test database
 * (inside a vitest run: uses the run's shared PostgreSQL). No clients or citizens exist until added.
 */
export async function startTestIdentityProvider(
  env: Record<string, string> = {},
  options: IdentityProviderOptions = {},
): Promise<TestIdentityProvider> {
  const database = await createTestDatabase('fudi');
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let fudi: IdentityProvider;
  try {
    const config = readConfig({
      DATABASE_URL: database.url,
      FUDI_ISSUER: issuer,
      FUDI_COOKIE_SECRET: randomSecret(32),
      PORT: String(port),
      ...env,
    });
    fudi = await buildIdentityProvider(config, testLogger('identity-provider'), options);
    await fudi.app.listen({ port, host: '127.0.0.1' });
  } catch (err) {
    await database.drop().catch(() => undefined);
    throw err;
  }
  const listening = (fudi.app.server.address() as AddressInfo).port;
  if (listening !== port) throw new Error(`FUDI listens on ${listening}, expected ${port}`);
  const tokenUrl = `${issuer}/token`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenUrl,
    internals: fudi,
    async addServiceClient({ clientId, resources, scopes = [] }) {
      const added = await fudi.clients.addOperatorClient({
        clientId,
        resources,
        scopes,
        grantTypes: ['client_credentials'],
      });
      return { clientId, clientSecret: added.clientSecret! };
    },
    async addWebClient({
      clientId,
      redirectUris,
      resources = [],
      public: isPublic = false,
      postLogoutRedirectUris = [],
    }) {
      return fudi.clients.addOperatorClient({
        clientId,
        redirectUris,
        postLogoutRedirectUris,
        resources,
        public: isPublic,
        grantTypes: ['authorization_code', 'refresh_token'],
      });
    },
    async clientCredentialsToken(client, resource, scope) {
      const form = new URLSearchParams({ grant_type: 'client_credentials', resource });
      if (scope) form.set('scope', scope);
      const basic = Buffer.from(
        `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`,
      ).toString('base64');
      const response = await fetch(tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as {
        access_token?: string;
        error?: string;
        error_description?: string;
      };
      if (!response.ok || !body.access_token) {
        throw new Error(
          `FUDI token endpoint: HTTP ${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`,
        );
      }
      return body.access_token;
    },
    async addCitizen(citizen) {
      await fudi.citizens.upsert(citizen);
    },
    async stop() {
      await fudi.app.close();
      await database.drop();
    },
  };
}
