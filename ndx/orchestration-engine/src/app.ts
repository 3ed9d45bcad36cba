import type { FastifyInstance } from 'fastify';
import { auditMigrationsDir, createAuditWriter, newChainId } from '@ndx/audit';
import {
  createClientCredentialsSource,
  defineService,
  httpCall,
  withServiceDatabase,
  type Logger,
} from '@ndx/service-kit';
import { readConfig, type Config } from './config.ts';
import { createConsumerTokenVerifier } from './consumer-auth.ts';
import { createConsumerRegistry } from './consumer-registry.ts';
import { loadFlConfig, resolveProviderSecrets, type FlConfig, type ProviderConfig } from './fl-config.ts';
import { assertDataSubjectsMatchSchema } from './data-subjects.ts';
import { createDecisionTables } from './decision-table-cache.ts';
import { createConsentClient, createPolicyClient, type PolicyClient } from './gate-clients.ts';
import { startPolicyFeedSubscriber, type PolicyFeedSubscriber } from './policy-feed-subscriber.ts';
import { registerGraphQLRoute } from './graphql-route.ts';
import { createOeMetrics } from './oe-metrics.ts';
import { createQueryPlanner } from './planner.ts';
import { defaultBreakerOptions, ProviderClient, type ProviderAuth } from './provider-client.ts';
import { assertSchemaMatchesProviders, loadProviderSchemas } from './schema-check.ts';
import { loadUnifiedSchema } from './schema.ts';

export const SERVICE_NAME = 'orchestration-engine';

type Env = Record<string, string | undefined>;

export interface AppOptions {
  /** The wall clock policy decisions are taken at (decision tables expire by it). Tests inject one. */
  clock?: () => Date;
}

/**
 * Builds the Orchestration Engine: checks the unified schema against every provider's schema
 * (refusing to start on a mismatch), then wires consumer auth, limits, planner, PDP and CE gating,
 * provider clients with breakers, and the audit log.
 */
export async function buildApp(
  config: Config,
  logger: Logger,
  env: Env = process.env,
  options: AppOptions = {},
): Promise<FastifyInstance> {
  const flConfig = loadFlConfig(config.FL_CONFIG_PATH, { env });
  const { schema } = loadUnifiedSchema(config.UNIFIED_SCHEMA_PATH);
  assertDataSubjectsMatchSchema(schema, flConfig.dataSubjects);
  assertSchemaMatchesProviders(
    schema,
    flConfig,
    await loadProviderSchemas(flConfig, { prefer: config.SCHEMA_CHECK }),
  );
  const providerSecrets = resolveProviderSecrets(flConfig, env);

  const fudiTokens = (resource: string) =>
    createClientCredentialsSource({
      tokenUrl: `${flConfig.services.fudiIssuer}/token`,
      clientId: config.OE_CLIENT_ID,
      clientSecret: config.OE_CLIENT_SECRET,
      resource,
    });
  const gateTimeout = config.GATE_TIMEOUT_MS;
  const pdpTokens = fudiTokens(config.PDP_AUDIENCE);
  const pdp = createPolicyClient({
    baseUrl: flConfig.services.policyDecisionPoint,
    tokens: pdpTokens,
    timeoutMs: gateTimeout,
  });
  const consumerRegistry = createConsumerRegistry({
    baseUrl: flConfig.services.policyDecisionPoint,
    tokens: pdpTokens,
    timeoutMs: gateTimeout,
    cacheMs: config.CONSUMER_REGISTRY_CACHE_MS,
  });
  const consent = createConsentClient({
    baseUrl: flConfig.services.consentEngine,
    tokens: fudiTokens(config.CONSENT_AUDIENCE),
    timeoutMs: gateTimeout,
  });

  const database = {
    name: SERVICE_NAME,
    logger,
    databaseUrl: config.DATABASE_URL,
    migrationsDir: auditMigrationsDir,
  };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    // One hash chain per OE instance: replicas append side by side, each at full speed.
    const audit = createAuditWriter(pool, logger, { chainId: config.AUDIT_CHAIN_ID ?? newChainId('oe') });
    logger.info({ chainId: audit.chainId }, 'audit records go to this instance’s chain');
    // Policy decisions come from the PDP's decision tables while its change feed proves them current.
    let feed: PolicyFeedSubscriber | undefined;
    let policy: PolicyClient = pdp;
    if (config.DECISION_TABLES) {
      const tables = createDecisionTables({
        pdp,
        trustedVersion: () => feed?.trustedVersion() ?? null,
        clock: options.clock ?? (() => new Date()),
        maxFieldDecisions: config.DECISION_TABLE_MAX_FIELDS,
      });
      feed = startPolicyFeedSubscriber({
        poll: pdp.changes,
        onVersion: () => {
          tables.clear();
          consumerRegistry.clear();
        },
        logger,
      });
      policy = tables;
    }
    const app = httpService({
      bodyLimitBytes: flConfig.limits.maxBodyBytes,
      readinessChecks: {
        policyDecisionPoint: () => isUp(`${flConfig.services.policyDecisionPoint}/health`),
        consentEngine: () => isUp(`${flConfig.services.consentEngine}/health`),
      },
      onClose: async () => {
        feed?.stop();
        await audit.close();
      },
    });
    const metrics = createOeMetrics(app.metrics.registry);
    const breakerOptions = {
      ...defaultBreakerOptions,
      resetTimeoutMs: config.BREAKER_RESET_MS,
      volumeThreshold: config.BREAKER_VOLUME_THRESHOLD,
    };
    const providers = new Map(
      flConfig.providers.map((provider) => [
        provider.providerKey,
        new ProviderClient(
          {
            key: provider.providerKey,
            url: provider.graphqlUrl,
            timeoutMs: provider.timeoutMs,
            auth: providerAuth(provider, providerSecrets.get(provider.providerKey) ?? '', flConfig),
          },
          logger,
          breakerOptions,
          (state) => metrics.breakerChanged(provider.providerKey, state),
        ),
      ]),
    );
    for (const key of providers.keys()) metrics.breakerChanged(key, 'closed');

    await registerGraphQLRoute(app, {
      schema,
      flConfig,
      consumerRegistry,
      verifier: createConsumerTokenVerifier(
        { issuer: flConfig.services.fudiIssuer, audience: config.NDX_API_AUDIENCE },
        consumerRegistry,
      ),
      pipeline: {
        planner: createQueryPlanner({ schema, argMappings: flConfig.argMappings }),
        policy,
        consent,
        dataSubjects: flConfig.dataSubjects,
        providers,
        audit,
        metrics,
        logger,
      },
      introspection: config.GRAPHQL_INTROSPECTION,
      serverTiming: config.SERVER_TIMING,
    });
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });

function providerAuth(provider: ProviderConfig, secret: string, flConfig: FlConfig): ProviderAuth {
  const auth = provider.auth;
  switch (auth.type) {
    case 'api-key':
      return { type: 'apiKey', header: auth.header, value: secret };
    case 'oauth2-client-credentials':
      return {
        type: 'bearer',
        tokens: createClientCredentialsSource({
          tokenUrl: auth.tokenUrl,
          clientId: auth.clientId,
          clientSecret: secret,
          ...(auth.scope ? { scope: auth.scope } : {}),
        }),
      };
    case 'fudi-client-credentials':
      return {
        type: 'bearer',
        tokens: createClientCredentialsSource({
          tokenUrl: `${flConfig.services.fudiIssuer}/token`,
          clientId: auth.clientId,
          clientSecret: secret,
          resource: auth.resource,
          ...(auth.scope ? { scope: auth.scope } : {}),
        }),
      };
  }
}

async function isUp(url: string): Promise<boolean> {
  try {
    return (await httpCall(url, { timeoutMs: 1_500 })).status === 200;
  } catch {
    return false;
  }
}
