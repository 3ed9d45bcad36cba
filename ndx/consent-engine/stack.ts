import type { StackContext, StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires consent-engine to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  // A documented demo record: Daliso Phiri has consented to the passport app (docs/demo-citizens.md).
  prepareScript: 'src/seed-demo-consent.ts',
  env: (ctx) => ({
    CONSENT_DEMO_CITIZEN: '783345678V',
    FUDI_ISSUER: ctx.url('identity-provider'),
    CONSENT_AUDIENCE: 'urn:ndx:consent',
    CONSENT_PORTAL_PUBLIC_URL: ctx.url('consent-engine'),
    // FUDI's stack.ts registers consent-portal as a public client (authorization code + PKCE), so no secret.
    CONSENT_PORTAL_CLIENT_ID: 'consent-portal',
    CONSENT_SERVICE_CLIENTS: 'orchestration-engine,ndx-operator',
    CONSENT_CITIZEN_CLIENTS: 'consent-portal',
    CONSENT_CONSUMERS: JSON.stringify({
      'passport-app': {
        displayName: 'DIE Passport application',
        agency: 'Department of Immigration and Emigration',
        redirectUris: [`${ctx.url('passport-app')}/consent/return`],
      },
      'traffic-police-app': {
        displayName: 'DMT Traffic police',
        agency: 'Department of Motor Traffic',
        redirectUris: [],
      },
    }),
    ...auditDatabase(ctx),
  }),
};

/**
 * The citizen's access log reads the audit database (owned by the orchestration engine). It is
 * provisioned only when the orchestration engine is part of the stack (`--only` may leave it out);
 * without it the access log page says it is unavailable.
 */
function auditDatabase(ctx: StackContext): { AUDIT_DATABASE_URL?: string } {
  try {
    return { AUDIT_DATABASE_URL: ctx.databaseUrl('ndx_audit') };
  } catch {
    return {};
  }
}
