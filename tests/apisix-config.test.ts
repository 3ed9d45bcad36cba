import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  consentApiPaths,
  consentPortalPaths,
  consumerRegistryPaths,
  decisionTablePaths,
  END_USER_HEADER,
  fudiPaths,
  identityAdminPaths,
  ndxApiPaths,
  policyApiPaths,
} from '@ndx/contract';
import { loadFlConfig } from '@ndx/orchestration-engine/fl-config';
import { callees, services, type ServiceName, type StackContext } from '@ndx/stack';
import { repoRoot } from './support/test-stack.ts';

// apisix/ is not run by the suite (no APISIX image or package can be had here); this keeps it true to the code:
// its upstreams to the service catalogue, its routes to the paths the services register (@ndx/contract), its
// limits to fl-config.json's, and its token check to FUDI.

const pluginsSchema = z.record(z.string(), z.record(z.string(), z.unknown()));
const routeSchema = z
  .strictObject({
    id: z.string(),
    uri: z.string().optional(),
    uris: z.array(z.string()).optional(),
    methods: z.array(z.string()).optional(),
    upstream_id: z.string(),
    plugins: pluginsSchema.default({}),
  })
  .transform(({ uri, uris, ...route }) => ({ ...route, uris: [...(uri ? [uri] : []), ...(uris ?? [])] }));
const apisixYamlSchema = z.strictObject({
  upstreams: z.array(
    z.strictObject({
      id: z.string(),
      type: z.literal('roundrobin'),
      nodes: z.record(z.string(), z.number().int().positive()),
    }),
  ),
  routes: z.array(routeSchema),
});
const configYamlSchema = z.object({
  apisix: z.object({ node_listen: z.number().int(), enable_admin: z.literal(false) }),
  deployment: z.object({ role_data_plane: z.object({ config_provider: z.literal('yaml') }) }),
  plugins: z.array(z.string()),
});
const limitReqSchema = z.object({
  rate: z.number(),
  burst: z.number(),
  key_type: z.literal('var'),
  key: z.string(),
  rejected_code: z.literal(429),
});

const readYaml = (file: string): unknown => parse(readFileSync(join(repoRoot, file), 'utf8'));
const gateway = apisixYamlSchema.parse(readYaml('apisix/apisix.yaml'));
const gatewayConfig = configYamlSchema.parse(readYaml('apisix/config.yaml'));
const flConfig = loadFlConfig();
const catalogue = (name: string) => services.find((s) => s.name === name);

/** `host:port` of each upstream's one node. */
function upstreamNode(id: string): { host: string; port: number } {
  const upstream = gateway.upstreams.find((u) => u.id === id);
  if (!upstream) throw new Error(`apisix.yaml has no upstream ${id}`);
  const nodes = Object.keys(upstream.nodes);
  expect(nodes).toHaveLength(1);
  const [host, port] = nodes[0]!.split(':');
  return { host: host!, port: Number(port) };
}

/** The route APISIX (radixtree_uri) picks for a path: an exact uri before a `prefix/*`, the longest prefix first. */
function routeFor(path: string): (typeof gateway.routes)[number] | undefined {
  let best: { route: (typeof gateway.routes)[number]; rank: number } | undefined;
  for (const route of gateway.routes) {
    for (const uri of route.uris) {
      const rank = uri.endsWith('*')
        ? path.startsWith(uri.slice(0, -1))
          ? uri.length
          : -1
        : uri === path
          ? Number.MAX_SAFE_INTEGER
          : -1;
      if (rank >= 0 && (!best || rank > best.rank)) best = { route, rank };
    }
  }
  return best?.route;
}

/** A concrete path for a route pattern (`/consent/:id` → `/consent/sample-id`). */
const sample = (pattern: string) => pattern.replace(/:(\w+)/g, 'sample-$1');
const routeOf = (id: string) => {
  const route = gateway.routes.find((r) => r.id === id);
  if (!route) throw new Error(`apisix.yaml has no route ${id}`);
  return route;
};

describe('the gateway’s upstreams', () => {
  it('name services of the catalogue by name and default port (as compose and Kubernetes do)', () => {
    for (const upstream of gateway.upstreams) {
      const node = upstreamNode(upstream.id);
      expect(node.host, `upstream ${upstream.id}`).toBe(upstream.id);
      expect(node.port, `upstream ${upstream.id}`).toBe(catalogue(node.host)?.defaultPort);
    }
  });

  it('are exactly the services the call graph says the gateway calls', () => {
    expect(gateway.upstreams.map((u) => u.id).sort()).toEqual([...callees('gateway')].sort());
  });

  it('enables every plugin its routes use (standalone: APISIX refuses a route with a plugin it has not loaded)', () => {
    const used = new Set(gateway.routes.flatMap((r) => Object.keys(r.plugins)));
    expect([...used].filter((p) => !gatewayConfig.plugins.includes(p))).toEqual([]);
  });
});

describe('the gateway’s routes', () => {
  const expected: [path: string, upstream: ServiceName][] = [
    [ndxApiPaths.graphql, 'orchestration-engine'],
    ...Object.values(consentPortalPaths).map((p): [string, ServiceName] => [sample(p), 'consent-engine']),
    ...Object.values(fudiPaths).map((p): [string, ServiceName] => [sample(p), 'identity-provider']),
    // oidc-provider resumes the authorization at `/auth/<uid>` after sign-in, and serves each page's form posts.
    [`${fudiPaths.authorization}/sample-uid`, 'identity-provider'],
    [`${sample(fudiPaths.interaction)}/login`, 'identity-provider'],
    [`${sample(fudiPaths.interaction)}/totp`, 'identity-provider'],
  ];

  it.each(expected)('send %s to %s', (path, upstream) => {
    expect(routeFor(path)?.upstream_id, path).toBe(upstream);
  });

  it('expose no internal API: decisions, consent checks, admin APIs, health and metrics stay inside', () => {
    const internal = [
      ...[
        consentApiPaths,
        policyApiPaths,
        identityAdminPaths,
        decisionTablePaths,
        consumerRegistryPaths,
      ].flatMap((paths) =>
        Object.values(paths).map((p) => (typeof p === 'function' ? p('sample-id') : sample(p))),
      ),
      '/metrics',
      '/ready',
      '/health',
    ];
    expect(internal.length).toBeGreaterThan(10);
    expect(internal.filter((p) => routeFor(p) !== undefined)).toEqual([]);
  });

  it('take GraphQL as POST only (and CORS preflights), as the OE does', () => {
    expect(routeOf('graphql').methods?.sort()).toEqual(['OPTIONS', 'POST']);
  });
});

describe('the gateway’s checks on /graphql', () => {
  const plugins = routeOf('graphql').plugins;

  it('refuse a request without a valid FUDI token, checked against FUDI’s JWKS (its discovery document)', () => {
    const oidc = z
      .object({
        bearer_only: z.literal(true),
        use_jwks: z.literal(true),
        discovery: z.url(),
        client_id: z.string().min(1),
        client_secret: z.string(),
      })
      .parse(plugins['openid-connect']);
    const fudi = upstreamNode('identity-provider');
    const discovery = new URL(oidc.discovery);
    expect(discovery.host).toBe(`${fudi.host}:${fudi.port}`);
    expect(discovery.pathname).toBe(fudiPaths.discovery);
    // A secret by reference to the environment, never a literal.
    expect(oidc.client_secret).toMatch(/^\$env:\/\/[A-Z][A-Z0-9_]*$/);
  });

  it('limit each consumer (its bearer token) no tighter than the OE’s per-consumer limits in fl-config.json', () => {
    const limit = limitReqSchema.parse(plugins['limit-req']);
    expect(limit.key).toBe('http_authorization');
    const oeLimits = [flConfig.rateLimits.default, ...Object.values(flConfig.rateLimits.consumers)];
    // The most any consumer may send the OE: the gateway cuts only beyond it, and never sooner.
    expect(limit.rate).toBe(Math.max(...oeLimits.map((l) => l.requestsPerSecond)));
    expect(limit.burst).toBe(Math.max(...oeLimits.map((l) => l.burst)));
    expect(plugins['limit-count'], 'a second, unrelated limit').toBeUndefined();
  });

  it('refuse a body larger than the OE’s limit', () => {
    expect(z.object({ max_body_size: z.number() }).parse(plugins['client-control']).max_body_size).toBe(
      flConfig.limits.maxBodyBytes,
    );
  });

  it('allow CORS to the consent portal’s origin only, without credentials', () => {
    const cors = z
      .object({
        allow_origins: z.string(),
        allow_methods: z.string(),
        allow_headers: z.string(),
        allow_credential: z.literal(false),
      })
      .parse(plugins.cors);
    const consentEngine = catalogue('consent-engine')!;
    const portalUrl = consentEngine.wiring.env(localStackContext()).CONSENT_PORTAL_PUBLIC_URL;
    expect(cors.allow_origins).toBe(new URL(portalUrl!).origin);
    expect(cors.allow_methods.split(',').sort()).toEqual(['OPTIONS', 'POST']);
    expect(cors.allow_headers.split(',')).toEqual(
      expect.arrayContaining(['Authorization', 'Content-Type', END_USER_HEADER, 'traceparent']),
    );
  });
});

describe('the gateway’s other routes', () => {
  it.each(['consent-portal', 'fudi'])(
    '%s is limited per client address (its callers are anonymous)',
    (id) => {
      const limit = limitReqSchema.parse(routeOf(id).plugins['limit-req']);
      expect(limit.key).toBe('remote_addr');
    },
  );
});

/** The local stack's wiring context (./init.sh's default ports); secrets are placeholders, never read here. */
function localStackContext(): StackContext {
  const port = (name: ServiceName) => catalogue(name)!.defaultPort;
  return {
    repoRoot,
    dataDir: join(repoRoot, '.data'),
    logLevel: 'info',
    port,
    url: (name) => `http://127.0.0.1:${port(name)}`,
    databaseUrl: (database) => `postgres://placeholder@127.0.0.1:5432/${database}`,
    secret: () => 'placeholder',
    seedAccounts: [],
  };
}
