import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires drp-api to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    // The key the DRP adapter (and only it) presents to the legacy API.
    API_KEY: ctx.secret('drp.legacy-api-key'),
  }),
  prepareScript: 'src/seed.ts',
};
