/**
 * How a service is wired into the local stack (./init.sh, docker-compose env files, the end-to-end
 * tests): the types a service's own `stack.ts` and the launcher (`@ndx/stack`) share. This module
 * imports nothing, so the launcher can import every service's wiring without a cycle.
 */

export type ServiceName =
  | 'identity-provider'
  | 'rgd-api'
  | 'drp-api'
  | 'drp-api-adapter'
  | 'dmt-soap-api'
  | 'dmt-api-adapter'
  | 'policy-decision-point'
  | 'consent-engine'
  | 'orchestration-engine'
  | 'passport-app';

/** An account the stack's seeding gives to the identity provider (the documented demo citizens and officers). */
export interface SeedAccount {
  nic: string;
  name: string;
  password: string;
  /** Base32 TOTP secret when the account has a second factor. */
  totpSecret?: string;
  /** Roles released in the `roles` claim (e.g. `die-officer`); none for a citizen. */
  roles?: readonly string[];
}

export interface StackContext {
  repoRoot: string;
  /** Folder for data that must survive restarts (git-ignored). */
  dataDir: string;
  logLevel: string;
  port(name: ServiceName): number;
  /** Base URL of a service on loopback, e.g. http://127.0.0.1:4000 */
  url(name: ServiceName): string;
  /** Connection URL for a database from the catalogue. */
  databaseUrl(database: string): string;
  /** A secret generated on first run and kept in .secrets/ (never in git). */
  secret(name: string): string;
  /** The stack's seed citizen accounts (docs/demo-citizens.md), for the identity provider. */
  seedAccounts: readonly SeedAccount[];
}

/** What a service's own `stack.ts` tells the launcher. */
export interface StackWiring {
  /** Environment for the process, on top of PORT, HOST, LOG_LEVEL and DATABASE_URL. */
  env: (ctx: StackContext) => Record<string, string>;
  /** A script (relative to the service folder) run to completion before it starts, with the same env: seeding. */
  prepareScript?: string;
}
