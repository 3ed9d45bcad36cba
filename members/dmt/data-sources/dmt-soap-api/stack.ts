import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires dmt-soap-api to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    PUBLIC_URL: ctx.url('dmt-soap-api'),
    // The WS-Security UsernameToken the DMT adapter (its only caller) signs in with.
    SOAP_USERNAME: 'ndx-dmt-adapter',
    SOAP_PASSWORD: ctx.secret('dmt.soap-password'),
  }),
  prepareScript: 'src/seed.ts',
};
