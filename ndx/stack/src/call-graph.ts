import type { ServiceName } from '@ndx/stack-wiring';
import { services } from './services.ts';

/**
 * Who calls whom inside NDX (server to server), from docs/architecture.md and each service's wiring (stack.ts):
 * the one table that the Kubernetes NetworkPolicies (deploy/k8s/) are checked against. A service reaches
 * PostgreSQL (its own database; the Consent Engine also reads the audit database) and DNS besides; browsers reach
 * the public services only through the gateway.
 */

/** A caller or callee that is not a service of the catalogue: the API gateway (APISIX) and the metrics scraper. */
export type Outsider = 'gateway' | 'monitoring';

export interface ServiceCall {
  from: ServiceName | Outsider;
  to: ServiceName;
  why: string;
}

export const serviceCalls: readonly ServiceCall[] = [
  { from: 'gateway', to: 'orchestration-engine', why: 'consumer apps’ GraphQL (/graphql)' },
  { from: 'gateway', to: 'consent-engine', why: 'the consent portal’s pages' },
  { from: 'gateway', to: 'identity-provider', why: 'OIDC sign-in, tokens, discovery and JWKS' },
  { from: 'orchestration-engine', to: 'identity-provider', why: 'JWKS (consumer tokens) and its own token' },
  { from: 'orchestration-engine', to: 'policy-decision-point', why: 'decisions and the change feed' },
  { from: 'orchestration-engine', to: 'consent-engine', why: 'consent checks and requests' },
  { from: 'orchestration-engine', to: 'rgd-api', why: 'provider rgd (GraphQL, OAuth2 token)' },
  { from: 'orchestration-engine', to: 'drp-api-adapter', why: 'provider drp (GraphQL, API key)' },
  { from: 'orchestration-engine', to: 'dmt-api-adapter', why: 'provider dmt (GraphQL, FUDI token)' },
  { from: 'policy-decision-point', to: 'identity-provider', why: 'JWKS (the OE’s and operators’ tokens)' },
  { from: 'consent-engine', to: 'identity-provider', why: 'JWKS and the portal’s code exchange' },
  { from: 'dmt-api-adapter', to: 'identity-provider', why: 'JWKS (the OE’s token)' },
  { from: 'dmt-api-adapter', to: 'dmt-soap-api', why: 'SOAP with WS-Security' },
  { from: 'drp-api-adapter', to: 'drp-api', why: 'legacy REST with API key' },
  { from: 'passport-app', to: 'orchestration-engine', why: 'NDX queries from its server' },
  { from: 'passport-app', to: 'identity-provider', why: 'its token and its users’ sign-in' },
  ...services.map((s) => ({ from: 'monitoring' as const, to: s.name, why: 'Prometheus scrapes /metrics' })),
];

/** The services `name` calls. */
export const callees = (name: ServiceName | Outsider): ServiceName[] =>
  serviceCalls.filter((c) => c.from === name).map((c) => c.to);

/** Who calls `name`. */
export const callers = (name: ServiceName): (ServiceName | Outsider)[] =>
  serviceCalls.filter((c) => c.to === name).map((c) => c.from);
