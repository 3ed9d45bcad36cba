import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires dmt-api-adapter to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    FUDI_ISSUER: ctx.url('identity-provider'),
    FUDI_AUDIENCE: 'urn:dmt:vehicles',
    // Only NDX itself calls the adapter.
    ALLOWED_CLIENT_IDS: 'orchestration-engine',
    DMT_SOAP_URL: `${ctx.url('dmt-soap-api')}/vehicles`,
    // The same username and generated password the SOAP service checks (its stack.ts).
    DMT_SOAP_USERNAME: 'ndx-dmt-adapter',
    DMT_SOAP_PASSWORD: ctx.secret('dmt.soap-password'),
  }),
};
