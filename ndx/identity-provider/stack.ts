import type { StackContext, StackWiring } from '@ndx/stack-wiring';
import type { ClientSpecInput } from './src/clients.ts';

/** The clients every NDX stack registers in FUDI (ids and resource indicators from the house rules). */
export function stackClients(ctx: StackContext): ClientSpecInput[] {
  const secret = (clientId: string) => ctx.secret(`fudi.client.${clientId}`);
  return [
    {
      // One confidential client: its own NDX token (client credentials) and its users' sign-in
      // (authorization code + PKCE; applicants and officers, who get the roles claim).
      clientId: 'passport-app',
      name: 'DIE passport application',
      clientSecret: secret('passport-app'),
      grantTypes: ['client_credentials', 'authorization_code'],
      resources: ['urn:ndx:api'],
      redirectUris: [`${ctx.url('passport-app')}/auth/callback`],
      postLogoutRedirectUris: [`${ctx.url('passport-app')}/`],
    },
    {
      clientId: 'traffic-police-app',
      name: 'DMT traffic police',
      clientSecret: secret('traffic-police-app'),
      grantTypes: ['client_credentials'],
      resources: ['urn:ndx:api'],
    },
    {
      clientId: 'orchestration-engine',
      name: 'NDX Orchestration Engine',
      clientSecret: secret('orchestration-engine'),
      grantTypes: ['client_credentials'],
      resources: ['urn:ndx:pdp', 'urn:ndx:consent', 'urn:dmt:vehicles'],
    },
    {
      clientId: 'consent-portal',
      name: 'NDX consent portal',
      public: true,
      grantTypes: ['authorization_code', 'refresh_token'],
      redirectUris: [`${ctx.url('consent-engine')}/auth/callback`],
      postLogoutRedirectUris: [`${ctx.url('consent-engine')}/`],
      resources: ['urn:ndx:consent'],
    },
    {
      clientId: 'ndx-operator',
      name: 'NDX operators',
      clientSecret: secret('ndx-operator'),
      grantTypes: ['client_credentials'],
      resources: ['urn:ndx:pdp', 'urn:ndx:consent', 'urn:ndx:identity'],
      scopes: ['admin'],
    },
  ];
}

/** How ./init.sh wires identity-provider to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    FUDI_ISSUER: ctx.url('identity-provider'),
    FUDI_COOKIE_SECRET: ctx.secret('fudi.cookie'),
    FUDI_CLIENTS: JSON.stringify(stackClients(ctx)),
    // The stack's seeding: the documented demo citizens get accounts (created when missing).
    FUDI_SEED_ACCOUNTS: JSON.stringify(ctx.seedAccounts),
    ...accessTokenLifetime(),
  }),
};

/**
 * FUDI_ACCESS_TOKEN_TTL_SECONDS in the launcher's environment shortens the stack's access tokens (FUDI
 * accepts 30 s or more), e.g. for a test that must see a token FUDI issued expire; unset, FUDI's default.
 */
function accessTokenLifetime(): { FUDI_ACCESS_TOKEN_TTL_SECONDS?: string } {
  const seconds = process.env.FUDI_ACCESS_TOKEN_TTL_SECONDS;
  return seconds ? { FUDI_ACCESS_TOKEN_TTL_SECONDS: seconds } : {};
}
