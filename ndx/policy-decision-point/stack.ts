import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires policy-decision-point to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    FUDI_ISSUER: ctx.url('identity-provider'),
    PDP_AUDIENCE: 'urn:ndx:pdp',
    DECISION_CLIENT_IDS: 'orchestration-engine',
    ADMIN_CLIENT_IDS: 'ndx-operator',
    ADMIN_SCOPE: 'admin',
    POLICY_TIME_ZONE: 'Africa/Lusaka',
  }),
};
