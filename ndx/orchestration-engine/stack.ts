import type { StackWiring } from '@ndx/stack-wiring';

/** How ./init.sh wires orchestration-engine to the rest of the stack (environment on top of PORT, HOST, LOG_LEVEL, DATABASE_URL). */
export const stackWiring: StackWiring = {
  env: (ctx) => ({
    FUDI_ISSUER: ctx.url('identity-provider'),
    PDP_URL: ctx.url('policy-decision-point'),
    CONSENT_ENGINE_URL: ctx.url('consent-engine'),
    PROVIDER_URL_RGD: ctx.url('rgd-api'),
    PROVIDER_URL_DRP: ctx.url('drp-api-adapter'),
    PROVIDER_URL_DMT: ctx.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: ctx.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: ctx.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: ctx.secret('drp.adapter-api-key'),
    // Local development stack: introspection and Server-Timing on (both off by default).
    GRAPHQL_INTROSPECTION: 'true',
    SERVER_TIMING: 'true',
    // As in the container image: graphql-js's development-mode type checks (instanceof with a cross-realm
    // test, run on every variable coercion) cost the OE measurable CPU per query (docs/performance.md).
    NODE_ENV: 'production',
  }),
};
