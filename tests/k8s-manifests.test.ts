import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { Namespace, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IContainer, IEnvVar } from 'kubernetes-models/v1';
import { callees, serviceCalls, services, type ServiceName } from '@ndx/stack';
import { repoRoot } from './support/test-stack.ts';

// deploy/k8s/ against the Kubernetes API schemas (kubernetes-models, Kubernetes 1.27) and against the code: the
// service catalogue's names and ports, the call graph (ndx/stack/src/call-graph.ts) and apisix/config.yaml.

const k8sDir = join(repoRoot, 'deploy', 'k8s');
const models = {
  Namespace,
  Service,
  Deployment,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  NetworkPolicy,
} as const;
type Kind = keyof typeof models;
const typeMeta = z.object({
  apiVersion: z.string(),
  kind: z.enum(Object.keys(models) as [Kind, ...Kind[]]),
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
});

/** Every object of every manifest, with the file it came from; throws on a YAML error. */
function readManifests(): { file: string; object: Record<string, unknown> }[] {
  const kustomization = z
    .object({ resources: z.array(z.string()) })
    .parse(parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')));
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8')).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return { file, object: doc.toJS() as Record<string, unknown> };
    }),
  );
}

const manifests = readManifests();
const ofKind = <K extends Kind>(kind: K) =>
  manifests
    .filter((m) => m.object.kind === kind)
    .map((m) => new models[kind](m.object as never) as InstanceType<(typeof models)[K]>);
const named = <K extends Kind>(kind: K, name: string) => {
  const found = ofKind(kind).find((o) => o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/k8s/`);
  return found;
};

/** The services the manifests run: NDX's own; the agencies run the member data sources and apps. */
const core = [
  'identity-provider',
  'policy-decision-point',
  'consent-engine',
  'orchestration-engine',
] as const;
/** Stateless apart from PostgreSQL, and the load's hot path: these scale out by CPU. */
const autoscaled: ServiceName[] = ['orchestration-engine', 'consent-engine', 'policy-decision-point'];
const catalogue = (name: string) => {
  const found = services.find((s) => s.name === name);
  if (!found) throw new Error(`${name} is not in the service catalogue`);
  return found;
};
const gatewayPort = z
  .object({ apisix: z.object({ node_listen: z.number().int() }) })
  .parse(parse(readFileSync(join(repoRoot, 'apisix', 'config.yaml'), 'utf8'))).apisix.node_listen;
/** The port each deployed party listens on: the catalogue's default, or the gateway's node_listen. */
const portOf = (name: string) => (name === 'gateway' ? gatewayPort : catalogue(name).defaultPort);
const containerOf = (name: string): IContainer => {
  const containers = named('Deployment', name).spec?.template.spec?.containers ?? [];
  expect(containers, `${name}'s containers`).toHaveLength(1);
  return containers[0]!;
};

describe('deploy/k8s/', () => {
  it('is valid against the Kubernetes API schemas, each object of a kind the tests know, in the ndx namespace', () => {
    expect(manifests.length).toBeGreaterThan(20);
    for (const { file, object } of manifests) {
      const meta = typeMeta.parse(object);
      const model = new models[meta.kind](object as never);
      expect(() => model.validate(), `${file}: ${meta.kind} ${meta.metadata.name}`).not.toThrow();
      expect(model.apiVersion, `${file}: ${meta.kind}`).toBe(models[meta.kind].apiVersion);
      if (meta.kind !== 'Namespace')
        expect(meta.metadata.namespace, `${file}: ${meta.metadata.name}`).toBe('ndx');
    }
  });

  it('runs no PostgreSQL of its own: it is an external dependency, reached through an ExternalName Service', () => {
    expect(manifests.map((m) => m.object.kind)).not.toContain('StatefulSet');
    const postgres = named('Service', 'postgres');
    expect(postgres.spec?.type).toBe('ExternalName');
    expect(postgres.spec?.ports?.map((p) => p.port)).toEqual([5432]);
  });
});

describe.each(core)('%s on Kubernetes', (name) => {
  const service = catalogue(name);
  const port = service.defaultPort;

  it('runs the service from its folder in the image, listening on its catalogue port', () => {
    const container = containerOf(name);
    expect(container.workingDir).toBe(`/app/${service.dir}`);
    expect(container.ports?.map((p) => p.containerPort)).toEqual([port]);
    expect(container.env?.find((e) => e.name === 'PORT')?.value).toBe(String(port));
    const svc = named('Service', name);
    expect(svc.spec?.selector).toEqual(named('Deployment', name).spec?.selector.matchLabels);
    expect(svc.spec?.ports?.map((p) => [p.port, p.targetPort])).toEqual([[port, port]]);
  });

  it('is ready on /ready and alive on /health, on its port', () => {
    const container = containerOf(name);
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/ready', port });
    expect(container.livenessProbe?.httpGet).toMatchObject({ path: '/health', port });
  });

  it('requests CPU and memory, with a memory limit', () => {
    const resources = containerOf(name).resources;
    expect(resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(resources?.limits?.memory).toEqual(expect.any(String));
  });

  it('takes secrets by reference only, never a literal value', () => {
    const container = containerOf(name);
    expect(container.envFrom?.map((e) => e.secretRef?.name)).toEqual([`${name}-env`]);
    const literal = (container.env ?? []).filter((e: IEnvVar) => e.value !== undefined).map((e) => e.name);
    // Only the listening address; everything else (URLs, client secrets, DATABASE_URL) comes from the Secret.
    expect(literal.sort()).toEqual(['HOST', 'PORT']);
  });

  it('runs as a non-root user that cannot gain privileges', () => {
    const pod = named('Deployment', name).spec?.template.spec;
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod?.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(containerOf(name).securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('keeps a replica through voluntary disruptions (PodDisruptionBudget)', () => {
    const pdb = named('PodDisruptionBudget', name);
    expect(pdb.spec?.selector?.matchLabels).toEqual(named('Deployment', name).spec?.selector.matchLabels);
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(named('Deployment', name).spec?.replicas).toBeGreaterThan(1);
  });

  it(
    autoscaled.includes(name)
      ? 'scales out on CPU (autoscaling/v2)'
      : 'has no autoscaler (not on the hot path)',
    () => {
      const hpa = ofKind('HorizontalPodAutoscaler').find((h) => h.metadata?.name === name);
      if (!autoscaled.includes(name)) {
        expect(hpa).toBeUndefined();
        return;
      }
      expect(hpa?.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
      expect(hpa?.spec?.minReplicas).toBe(named('Deployment', name).spec?.replicas);
      expect(hpa!.spec!.maxReplicas).toBeGreaterThan(hpa!.spec!.minReplicas!);
      expect(hpa?.spec?.metrics?.map((m) => m.resource?.name)).toEqual(['cpu']);
    },
  );
});

describe('every NDX core service of the catalogue', () => {
  it('is deployed (a new one needs its manifest)', () => {
    const ndxCore = services.filter((s) => s.dir.startsWith('ndx/')).map((s) => s.name);
    expect([...core].sort()).toEqual(ndxCore.sort());
    expect(
      ofKind('Deployment')
        .map((d) => d.metadata?.name)
        .sort(),
    ).toEqual([...core, 'gateway'].sort());
  });
});

describe('the gateway on Kubernetes', () => {
  it('runs APISIX with apisix/ mounted from a ConfigMap, on the port apisix/config.yaml listens on', () => {
    const container = containerOf('gateway');
    expect(container.ports?.map((p) => p.containerPort)).toEqual([gatewayPort]);
    expect(container.readinessProbe?.tcpSocket?.port).toBe(gatewayPort);
    expect(container.livenessProbe?.tcpSocket?.port).toBe(gatewayPort);
    expect(named('Service', 'gateway').spec?.ports?.map((p) => p.port)).toEqual([gatewayPort]);
    expect(container.volumeMounts?.map((m) => m.subPath).sort()).toEqual(
      readdirSync(join(repoRoot, 'apisix')).sort(),
    );
    expect(named('Deployment', 'gateway').spec?.template.spec?.securityContext?.runAsNonRoot).toBe(true);
    expect(container.envFrom?.map((e) => e.secretRef?.name)).toEqual(['apisix-env']);
  });

  it('reaches each upstream of apisix.yaml by its Service’s name and port', () => {
    const gateway = z
      .object({ upstreams: z.array(z.object({ nodes: z.record(z.string(), z.number()) })) })
      .parse(parse(readFileSync(join(repoRoot, 'apisix', 'apisix.yaml'), 'utf8')));
    const nodes = gateway.upstreams.flatMap((u) => Object.keys(u.nodes));
    const k8sServices = ofKind('Service').flatMap((s) =>
      (s.spec?.ports ?? []).map((p) => `${s.metadata?.name}:${p.port}`),
    );
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.filter((n) => !k8sServices.includes(n))).toEqual([]);
  });
});

/** One allowed connection, as `from -> to:port` (`*` for anyone or anywhere). */
type Edge = string;

/** The connections the NetworkPolicies allow, read from both ends' rules. */
function allowedEdges(): { ingress: Set<Edge>; egress: Set<Edge> } {
  const ingress = new Set<Edge>();
  const egress = new Set<Edge>();
  const partyOf = (peer: {
    podSelector?: { matchLabels?: Record<string, string> };
    namespaceSelector?: { matchLabels?: Record<string, string> };
    ipBlock?: unknown;
  }): string => {
    const app = peer.podSelector?.matchLabels?.['app.kubernetes.io/name'];
    const namespace = peer.namespaceSelector?.matchLabels;
    if (peer.ipBlock) return 'ip-block';
    if (namespace?.['kubernetes.io/metadata.name'] === 'monitoring' && !peer.podSelector) return 'monitoring';
    if (namespace?.['ndx.farajaland/provider'] === 'true' && app) return app;
    if (
      namespace?.['kubernetes.io/metadata.name'] === 'kube-system' &&
      peer.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns'
    )
      return 'dns';
    if (!namespace && app) return app;
    return `unknown ${JSON.stringify(peer)}`;
  };
  for (const policy of ofKind('NetworkPolicy')) {
    const selected = policy.spec?.podSelector?.matchLabels?.['app.kubernetes.io/name'] ?? '*';
    for (const rule of policy.spec?.ingress ?? []) {
      for (const from of rule.from ?? [{}]) {
        for (const port of rule.ports ?? [{}]) {
          ingress.add(
            `${from === undefined || Object.keys(from).length === 0 ? '*' : partyOf(from)} -> ${selected}:${port.port ?? '*'}`,
          );
        }
      }
    }
    for (const rule of policy.spec?.egress ?? []) {
      for (const to of rule.to ?? [{}]) {
        for (const port of rule.ports ?? [{}]) {
          egress.add(
            `${selected} -> ${Object.keys(to).length === 0 ? '*' : partyOf(to)}:${port.port ?? '*'}`,
          );
        }
      }
    }
  }
  return { ingress, egress };
}

describe('the NetworkPolicies', () => {
  const deployed = new Set<string>([...core, 'gateway']);
  const { ingress, egress } = allowedEdges();

  it('deny everything in the namespace that no policy allows, apart from DNS', () => {
    const defaultDeny = named('NetworkPolicy', 'default-deny');
    expect(defaultDeny.spec?.podSelector).toEqual({});
    expect(defaultDeny.spec?.policyTypes?.sort()).toEqual(['Egress', 'Ingress']);
    expect(defaultDeny.spec?.ingress ?? []).toEqual([]);
    expect(defaultDeny.spec?.egress ?? []).toEqual([]);
    expect([...egress].filter((e) => e.startsWith('* ->')).sort()).toEqual(['* -> dns:53']);
  });

  it('let in exactly the documented callers of each deployed service, on its port', () => {
    const expected = new Set<Edge>(['* -> gateway:' + gatewayPort]);
    for (const call of serviceCalls) {
      if (!deployed.has(call.to)) continue;
      // Callers outside the namespace (the agencies' apps, adapters) come through the gateway.
      if (call.from !== 'monitoring' && !deployed.has(call.from)) continue;
      expected.add(`${call.from} -> ${call.to}:${portOf(call.to)}`);
    }
    expect([...ingress].sort()).toEqual([...expected].sort());
  });

  it('let out exactly the documented calls of each deployed service, its database and DNS', () => {
    const expected = new Set<Edge>(['* -> dns:53']);
    for (const from of deployed) {
      for (const to of callees(from as ServiceName | 'gateway'))
        expected.add(`${from} -> ${to}:${portOf(to)}`);
      if (from !== 'gateway' && catalogue(from).database) expected.add(`${from} -> *:5432`);
    }
    expect([...egress].sort()).toEqual([...expected].sort());
  });
});
