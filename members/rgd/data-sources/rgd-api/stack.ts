import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires rgd-api to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    RGD_NDX_CLIENT_SECRET: ctx.secret('rgd.client.ndx'),
    RGD_ISSUER: ctx.url('rgd-api'),
  }),
  prepareScript: 'src/seed.ts',
};
