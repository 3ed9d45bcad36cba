import type { ServiceName, StackWiring } from '@ndx/stack-wiring';
import { stackWiring as identityProviderWiring } from '@ndx/identity-provider/stack';
import { stackWiring as rgdApiWiring } from '@ndx/rgd-api/stack';
import { stackWiring as drpApiWiring } from '@ndx/drp-api/stack';
import { stackWiring as drpApiAdapterWiring } from '@ndx/drp-api-adapter/stack';
import { stackWiring as dmtSoapApiWiring } from '@ndx/dmt-soap-api/stack';
import { stackWiring as dmtApiAdapterWiring } from '@ndx/dmt-api-adapter/stack';
import { stackWiring as policyDecisionPointWiring } from '@ndx/policy-decision-point/stack';
import { stackWiring as consentEngineWiring } from '@ndx/consent-engine/stack';
import { stackWiring as orchestrationEngineWiring } from '@ndx/orchestration-engine/stack';
import { stackWiring as passportAppWiring } from '@ndx/passport-app/stack';

export type { SeedAccount, ServiceName, StackContext, StackWiring } from '@ndx/stack-wiring';

/**
 * The catalogue of NDX services: where each lives, its default port and database, what it
 * needs started before it, and how it is wired to the others (environment variables).
 * init.sh, the stack tests and the docs all read this one list.
 */

export interface ServiceDefinition {
  name: ServiceName;
  title: string;
  /** Folder relative to the repository root. */
  dir: string;
  defaultPort: number;
  database?: string;
  /** Services that must be ready before this one starts. */
  dependsOn: ServiceName[];
  /** How the service is wired into the stack; lives in the service's own folder (stack.ts). */
  wiring: StackWiring;
}

export const services: readonly ServiceDefinition[] = [
  {
    name: 'identity-provider',
    wiring: identityProviderWiring,
    title: 'FUDI identity provider (OIDC)',
    dir: 'ndx/identity-provider',
    defaultPort: 9443,
    database: 'ndx_identity',
    dependsOn: [],
  },
  {
    name: 'rgd-api',
    wiring: rgdApiWiring,
    title: 'RGD birth registry (native GraphQL)',
    dir: 'members/rgd/data-sources/rgd-api',
    defaultPort: 8080,
    database: 'rgd',
    dependsOn: [],
  },
  {
    name: 'drp-api',
    wiring: drpApiWiring,
    title: 'DRP person registry (legacy REST)',
    dir: 'members/drp/data-sources/drp-api',
    defaultPort: 9091,
    database: 'drp',
    dependsOn: [],
  },
  {
    name: 'drp-api-adapter',
    wiring: drpApiAdapterWiring,
    title: 'DRP adapter (GraphQL to REST)',
    dir: 'members/drp/data-sources/drp-api-adapter',
    defaultPort: 9090,
    dependsOn: ['drp-api'],
  },
  {
    name: 'dmt-soap-api',
    wiring: dmtSoapApiWiring,
    title: 'DMT vehicle registry (legacy SOAP)',
    dir: 'members/dmt/data-sources/dmt-soap-api',
    defaultPort: 9093,
    database: 'dmt',
    dependsOn: [],
  },
  {
    name: 'dmt-api-adapter',
    wiring: dmtApiAdapterWiring,
    title: 'DMT adapter (GraphQL to SOAP)',
    dir: 'members/dmt/data-sources/dmt-api-adapter',
    defaultPort: 9092,
    dependsOn: ['dmt-soap-api', 'identity-provider'],
  },
  {
    name: 'policy-decision-point',
    wiring: policyDecisionPointWiring,
    title: 'Policy Decision Point',
    dir: 'ndx/policy-decision-point',
    defaultPort: 8082,
    database: 'ndx_policy',
    dependsOn: ['identity-provider'],
  },
  {
    name: 'consent-engine',
    wiring: consentEngineWiring,
    title: 'Consent Engine and consent portal',
    dir: 'ndx/consent-engine',
    defaultPort: 8081,
    database: 'ndx_consent',
    dependsOn: ['identity-provider'],
  },
  {
    name: 'orchestration-engine',
    wiring: orchestrationEngineWiring,
    title: 'Orchestration Engine (GraphQL API)',
    dir: 'ndx/orchestration-engine',
    defaultPort: 4000,
    database: 'ndx_audit',
    dependsOn: [
      'identity-provider',
      'policy-decision-point',
      'consent-engine',
      'rgd-api',
      'drp-api-adapter',
      'dmt-api-adapter',
    ],
  },
  {
    name: 'passport-app',
    wiring: passportAppWiring,
    title: 'DIE passport app',
    dir: 'members/die/applications/passport-app',
    defaultPort: 3000,
    database: 'die',
    dependsOn: ['orchestration-engine', 'identity-provider'],
  },
];

/** Groups services into start waves: each wave depends only on earlier waves. */
export function startWaves<T extends { name: string; dependsOn: readonly string[] }>(
  list: readonly T[],
): T[][] {
  const waves: T[][] = [];
  const placed = new Set<string>();
  let remaining = [...list];
  while (remaining.length > 0) {
    const wave = remaining.filter((s) =>
      s.dependsOn.every((d) => placed.has(d) || !list.some((l) => l.name === d)),
    );
    if (wave.length === 0)
      throw new Error(`dependency cycle among ${remaining.map((s) => s.name).join(', ')}`);
    waves.push(wave);
    for (const s of wave) placed.add(s.name);
    remaining = remaining.filter((s) => !placed.has(s.name));
  }
  return waves;
}
