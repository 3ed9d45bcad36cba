import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires dmt-soap-api to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    PUBLIC_URL: ctx.url('dmt-soap-api'),
  }),
  prepareScript: 'src/seed.ts',
};
