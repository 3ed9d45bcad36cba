import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { dataSubjectRulesSchema, type DataSubjectRule } from '@ndx/contract';
import { ConfigError } from '@ndx/service-kit';

type Env = Record<string, string | undefined>;

/** The repository root, where fl-config.json and relative schemaFile paths live. */
export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
/** fl-config.json at the repository root; FL_CONFIG_PATH overrides it. */
export const defaultFlConfigPath = resolve(repoRoot, 'fl-config.json');

const name = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be lower case letters, digits and _');
const envName = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]*$/, 'must name an environment variable (secrets are never written literally)');
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' });
/** A purpose code, e.g. `passport-application` (a consumer's default, or its NDX-Purpose header). */
export const PURPOSE_PATTERN = /^[a-z][a-z0-9-]{1,63}$/;
const dottedPair = z.string().regex(/^[A-Za-z_]\w*\.[A-Za-z_]\w*$/, 'must be "field.argument"');

const authSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** OAuth2 client credentials against the provider's own token endpoint (RGD). */
    type: z.literal('oauth2-client-credentials'),
    tokenPath: z.string().startsWith('/').default('/oauth2/token'),
    clientId: z.string().min(1),
    secretEnv: envName,
    scope: z.string().min(1).optional(),
  }),
  z.strictObject({
    /** A static API key sent in a header (DRP adapter). */
    type: z.literal('api-key'),
    header: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name'),
    secretEnv: envName,
  }),
  z.strictObject({
    /** FUDI client credentials; the token's audience is `resource` (DMT adapter). */
    type: z.literal('fudi-client-credentials'),
    clientId: z.string().min(1),
    resource: z.string().min(1),
    secretEnv: envName,
    scope: z.string().min(1).optional(),
  }),
]);

/** The limits fl-config.json may leave out (each key of `limits` not listed here is required). */
export const DEFAULT_LIMITS = {
  maxFields: 300,
  maxDirectives: 20,
  maxDirectivesPerField: 3,
  maxArgumentLength: 1024,
};

const rateLimitSchema = z.strictObject({
  /** Sustained requests per second (the bucket's refill rate); fractions allowed (0.5 = one every 2 s). */
  requestsPerSecond: z.number().min(0.001).max(1_000_000),
  /** Requests at once (the bucket's size). */
  burst: z.number().int().min(1).max(1_000_000),
});

/**
 * Far above what one OE instance answers for all consumers together (best 162 requests/s in `npm run bench` on the
 * 2-core machine; docs/performance.md), so that only a runaway client is cut, never the test suite or the benchmark.
 */
export const DEFAULT_RATE_LIMITS = {
  default: { requestsPerSecond: 1_000, burst: 2_000 },
  consumers: {},
  maxTrackedConsumers: 10_000,
};

const providerSchema = z.strictObject({
  providerKey: name,
  displayName: z.string().min(1).optional(),
  schemaId: z.string().min(1),
  /** Base URL: GraphQL at `${url}/graphql`, SDL at `${url}/graphql/schema.graphql`. */
  url: httpUrl,
  timeoutMs: z.number().int().min(50).max(60_000).default(3000),
  /** A pinned copy of the provider's SDL, relative to the repository root. */
  schemaFile: z.string().min(1).optional(),
  auth: authSchema,
});

const argMappingSchema = z.strictObject({
  /** `rootField.argument` of the unified schema, e.g. `personInfo.nic`. */
  unifiedArg: dottedPair,
  providerKey: name,
  /** `rootField.argument` of the provider schema, e.g. `person.nic`. */
  providerArg: dottedPair,
});

const flConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    providers: z.array(providerSchema).min(1),
    argMappings: z.array(argMappingSchema),
    /**
     * Which root fields are about one person, and which argument names them (e.g. personInfo by nic):
     * their fields are gated for that citizen. Required, so that leaving it out cannot silently stop
     * per-citizen gating; `[]` when no root field is about a person.
     */
    dataSubjects: dataSubjectRulesSchema,
    services: z.strictObject({
      fudiIssuer: httpUrl,
      policyDecisionPoint: httpUrl,
      consentEngine: httpUrl,
    }),
    limits: z.strictObject({
      maxDepth: z.number().int().min(1).max(50),
      maxAliases: z.number().int().min(0).max(1000),
      maxTokens: z.number().int().min(10).max(100_000),
      maxBodyBytes: z.number().int().min(256).max(10_000_000),
      maxCost: z.number().int().min(1).max(1_000_000),
      /** Field selections in one operation, fragments expanded and duplicates counted (field duplication). */
      maxFields: z.number().int().min(1).max(100_000).default(DEFAULT_LIMITS.maxFields),
      /** Directives in one operation, fragments expanded (directive overloading). */
      maxDirectives: z.number().int().min(0).max(1000).default(DEFAULT_LIMITS.maxDirectives),
      /** Directives on one field, fragment spread or inline fragment. */
      maxDirectivesPerField: z.number().int().min(0).max(100).default(DEFAULT_LIMITS.maxDirectivesPerField),
      /** Characters of one string argument, in the query or in a variable. */
      maxArgumentLength: z.number().int().min(16).max(1_000_000).default(DEFAULT_LIMITS.maxArgumentLength),
    }),
    /**
     * Requests per consumer (its client_id) and OE instance, a token bucket: `burst` requests at once, refilled at
     * `requestsPerSecond`. Optional: without it, DEFAULT_RATE_LIMITS.
     */
    rateLimits: z
      .strictObject({
        default: rateLimitSchema,
        consumers: z
          .record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be a client id'), rateLimitSchema)
          .default({}),
        /** Buckets kept at most (least recently used dropped first: a dropped consumer starts again full). */
        maxTrackedConsumers: z.number().int().min(1).max(1_000_000).default(10_000),
      })
      .default(DEFAULT_RATE_LIMITS),
  })
  .superRefine((config, ctx) => {
    const keys = new Set<string>();
    config.providers.forEach((provider, index) => {
      if (keys.has(provider.providerKey)) {
        ctx.addIssue({
          code: 'custom',
          path: ['providers', index, 'providerKey'],
          message: `duplicate provider key "${provider.providerKey}"`,
        });
      }
      keys.add(provider.providerKey);
    });
    const seen = new Set<string>();
    config.argMappings.forEach((mapping, index) => {
      if (!keys.has(mapping.providerKey)) {
        ctx.addIssue({
          code: 'custom',
          path: ['argMappings', index, 'providerKey'],
          message: `"${mapping.providerKey}" is not a provider key in providers`,
        });
      }
      const id = `${mapping.unifiedArg} ${mapping.providerKey}`;
      if (seen.has(id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['argMappings', index],
          message: `${mapping.unifiedArg} is mapped twice for provider ${mapping.providerKey}`,
        });
      }
      seen.add(id);
    });
  });

type RawFlConfig = z.infer<typeof flConfigSchema>;
type RawProvider = RawFlConfig['providers'][number];

export type ProviderAuth =
  | (Extract<RawProvider['auth'], { type: 'oauth2-client-credentials' }> & { tokenUrl: string })
  | Extract<RawProvider['auth'], { type: 'api-key' }>
  | Extract<RawProvider['auth'], { type: 'fudi-client-credentials' }>;

export interface ProviderConfig {
  providerKey: string;
  displayName: string;
  schemaId: string;
  /** Base URL (after env override PROVIDER_URL_<KEY>), without a trailing slash. */
  url: string;
  /** `${url}/graphql` */
  graphqlUrl: string;
  /** `${url}/graphql/schema.graphql` */
  sdlUrl: string;
  timeoutMs: number;
  /** Absolute path of the pinned SDL, when fl-config names one. */
  schemaFile: string | undefined;
  auth: ProviderAuth;
}

export interface ArgMapping {
  /** Unified root field, e.g. `personInfo`. */
  unifiedField: string;
  /** Unified argument, e.g. `nic`. */
  unifiedArgument: string;
  providerKey: string;
  /** Provider root field, e.g. `vehiclesByOwner`. */
  providerField: string;
  /** Provider argument, e.g. `ownerNic`. */
  providerArgument: string;
}

export interface FlConfig {
  providers: ProviderConfig[];
  argMappings: ArgMapping[];
  dataSubjects: DataSubjectRule[];
  services: RawFlConfig['services'];
  limits: RawFlConfig['limits'];
  rateLimits: RawFlConfig['rateLimits'];
}

export interface FlConfigOptions {
  /** Environment for overrides (PROVIDER_URL_<KEY>, FUDI_ISSUER, PDP_URL, CONSENT_ENGINE_URL). */
  env?: Env;
  /** Relative schemaFile paths resolve against this directory (default: the repository root). */
  baseDir?: string;
  /** Named in error messages. */
  source?: string;
}

/** Parses fl-config content into a typed FlConfig; a bad key throws a ConfigError naming it. */
export function parseFlConfig(input: unknown, options: FlConfigOptions = {}): FlConfig {
  const env = options.env ?? process.env;
  const source = options.source ?? 'fl-config.json';
  const result = flConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new ConfigError(`invalid ${source}:\n  ${problems.join('\n  ')}`);
  }
  const raw = result.data;
  const overrides: string[] = [];
  const overridden = (variable: string, value: string): string => {
    const fromEnv = env[variable];
    if (fromEnv === undefined || fromEnv === '') return value;
    if (!httpUrl.safeParse(fromEnv).success) overrides.push(`${variable}=${JSON.stringify(fromEnv)}`);
    return fromEnv;
  };
  const providers = raw.providers.map((provider): ProviderConfig => {
    const url = overridden(`PROVIDER_URL_${provider.providerKey.toUpperCase()}`, provider.url).replace(
      /\/+$/,
      '',
    );
    const auth: ProviderAuth =
      provider.auth.type === 'oauth2-client-credentials'
        ? { ...provider.auth, tokenUrl: `${url}${provider.auth.tokenPath}` }
        : provider.auth;
    return {
      providerKey: provider.providerKey,
      displayName: provider.displayName ?? provider.providerKey,
      schemaId: provider.schemaId,
      url,
      graphqlUrl: `${url}/graphql`,
      sdlUrl: `${url}/graphql/schema.graphql`,
      timeoutMs: provider.timeoutMs,
      schemaFile:
        provider.schemaFile === undefined
          ? undefined
          : isAbsolute(provider.schemaFile)
            ? provider.schemaFile
            : resolve(options.baseDir ?? repoRoot, provider.schemaFile),
      auth,
    };
  });
  const services = {
    fudiIssuer: overridden('FUDI_ISSUER', raw.services.fudiIssuer).replace(/\/+$/, ''),
    policyDecisionPoint: overridden('PDP_URL', raw.services.policyDecisionPoint).replace(/\/+$/, ''),
    consentEngine: overridden('CONSENT_ENGINE_URL', raw.services.consentEngine).replace(/\/+$/, ''),
  };
  if (overrides.length) {
    throw new ConfigError(
      `invalid environment override of ${source}: ${overrides.join(', ')} (not an http(s) URL)`,
    );
  }
  const argMappings = raw.argMappings.map((mapping): ArgMapping => {
    const [unifiedField = '', unifiedArgument = ''] = mapping.unifiedArg.split('.');
    const [providerField = '', providerArgument = ''] = mapping.providerArg.split('.');
    return {
      unifiedField,
      unifiedArgument,
      providerKey: mapping.providerKey,
      providerField,
      providerArgument,
    };
  });
  return {
    providers,
    argMappings,
    dataSubjects: raw.dataSubjects,
    services,
    limits: raw.limits,
    rateLimits: raw.rateLimits,
  };
}

/** Reads and parses fl-config.json (FL_CONFIG_PATH or the repository root's). */
export function loadFlConfig(path?: string, options: FlConfigOptions = {}): FlConfig {
  const env = options.env ?? process.env;
  const file = path ?? env['FL_CONFIG_PATH'] ?? defaultFlConfigPath;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const baseDir = options.baseDir ?? (path || env['FL_CONFIG_PATH'] ? dirname(resolve(file)) : repoRoot);
  return parseFlConfig(json, { env, baseDir, source: options.source ?? file });
}

/** Reads each provider's secret from the environment variable its auth names; a missing one is a ConfigError. */
export function resolveProviderSecrets(config: FlConfig, env: Env = process.env): Map<string, string> {
  const secrets = new Map<string, string>();
  const missing: string[] = [];
  for (const provider of config.providers) {
    const value = env[provider.auth.secretEnv];
    if (value === undefined || value === '')
      missing.push(`${provider.auth.secretEnv} (provider ${provider.providerKey})`);
    else secrets.set(provider.providerKey, value);
  }
  if (missing.length) {
    throw new ConfigError(`missing provider secrets in the environment: ${missing.join(', ')}`);
  }
  return secrets;
}

export function providerByKey(config: FlConfig, providerKey: string): ProviderConfig | undefined {
  return config.providers.find((p) => p.providerKey === providerKey);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (!path.length) return '(root)';
  return path
    .map((segment, index) =>
      typeof segment === 'number' ? `[${segment}]` : `${index ? '.' : ''}${String(segment)}`,
    )
    .join('');
}
