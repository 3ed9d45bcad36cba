import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires drp-api-adapter to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    // NDX (the OE) presents this key; the OE's stack.ts reads the same secret name.
    API_KEY: ctx.secret('drp.adapter-api-key'),
    DRP_API_URL: ctx.url('drp-api'),
    DRP_API_KEY: ctx.secret('drp.legacy-api-key'),
  }),
};
