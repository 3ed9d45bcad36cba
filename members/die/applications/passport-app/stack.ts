import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires passport-app to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    FUDI_ISSUER: ctx.url('identity-provider'),
    PASSPORT_APP_CLIENT_ID: 'passport-app',
    // The same secret FUDI's stack.ts registers for the passport-app client.
    PASSPORT_APP_CLIENT_SECRET: ctx.secret('fudi.client.passport-app'),
    // The role the stack's demo officers have in FUDI (ndx/stack/src/seed-accounts.ts).
    PASSPORT_APP_OFFICER_ROLE: 'die-officer',
    NDX_API_URL: ctx.url('orchestration-engine'),
    NDX_API_RESOURCE: 'urn:ndx:api',
    NDX_PURPOSE: 'passport-application',
    PASSPORT_APP_PUBLIC_URL: ctx.url('passport-app'),
    CONSENT_PORTAL_URL: ctx.url('consent-engine'),
    PASSPORT_APP_COOKIE_SECRET: ctx.secret('passport-app.cookie'),
  }),
};
