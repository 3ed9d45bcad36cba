import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services, type ServiceName } from '@ndx/stack';
import { composeEnv, composeUrl, type ComposeEnv } from '@ndx/stack/compose-env';
import type { StartedNetwork } from 'testcontainers';
import {
  dockerEngine,
  failedServiceReport,
  logTail,
  readComposeFile,
  removeLeftovers,
  run,
  startComposeService,
  startNetwork,
  composeStartWaves,
  type StartedService,
} from './support/compose-containers.ts';
import { runNdx } from './support/ndx-cli.ts';
import { clientCredentialsToken } from './support/client-token.ts';
import { repoRoot } from './support/test-stack.ts';

/**
 * The stack in containers, as docker-compose.yml defines it, from the images scripts/build-images.sh builds
 * (from Debian's packages where no image registry answers): every service healthy in dependency order, two
 * Orchestration Engines, the passport query with and without consent, a revocation through the CE's API,
 * and both OEs' audit chains verified by `ndx audit verify` against the containers' PostgreSQL.
 * Skipped, loudly, where no Docker engine answers (.ci/run starts one).
 */
/** A service's port in the catalogue (the containers listen on it; the test reaches it through a mapped port). */
const port = (name: ServiceName) => services.find((s) => s.name === name)!.defaultPort;

const engine = dockerEngine();
if (!engine.available) {
  console.warn(
    `\n*** tests/containers.test.ts SKIPPED: no Docker engine answers (${engine.reason}).\n` +
      '*** The images, docker-compose.yml and the container stack are NOT tested on this machine.\n' +
      '*** Install docker.io and start dockerd (as .ci/run does) to run it.\n',
  );
}

const PASSPORT_QUERY =
  'query($nic: ID!) { personInfo(nic: $nic) { name fullName dateOfBirth birthInfo { birthPlace district } } }';
const DALISO = '783345678V'; // consented (the consent engine's demo seed)
const AMARA = '199560201234'; // not consented

interface GraphQLAnswer {
  data?: { personInfo: Record<string, unknown> | null } | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** Waits, at most timeoutMs, for the image build test.sh started (NDX_IMAGES_BUILD_PID) to end, if there is one. */
async function backgroundBuildDone(timeoutMs: number): Promise<void> {
  const pid = process.env.NDX_IMAGES_BUILD_PID;
  if (!pid) return;
  const deadline = Date.now() + timeoutMs;
  const running = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie has ended
    } catch {
      return false;
    }
  };
  while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1_000));
}

// Issue 15 asks for exactly this: run wherever a Docker engine answers (CI starts one: .ci/run), and say loudly
// above when it is skipped. The only test that may skip; every other test runs everywhere.
// eslint-disable-next-line no-restricted-syntax
describe.skipIf(!engine.available)('the NDX stack in containers', () => {
  const started: StartedService[] = [];
  let network: StartedNetwork | undefined;
  let folder = '';
  let env: ComposeEnv;
  let secrets: Record<string, string> = {};
  const phases: Record<string, number> = {};
  const service = (name: string, replica = 0) => started.filter((s) => s.name === name)[replica]!;

  const token = (clientId: string, resource: string) =>
    clientCredentialsToken(
      service('identity-provider').url(port('identity-provider')),
      { id: clientId, secret: secrets[`fudi.client.${clientId}`]! },
      resource,
    );
  const passportQuery = async (oe: StartedService, nic: string): Promise<GraphQLAnswer> => {
    const response = await fetch(`${oe.url(port('orchestration-engine'))}/graphql`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await token('passport-app', 'urn:ndx:api')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } }),
      signal: AbortSignal.timeout(30_000),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as GraphQLAnswer;
  };
  const codes = (answer: GraphQLAnswer) => [...new Set(answer.errors?.map((e) => e.extensions?.code))];

  beforeAll(async () => {
    // No Ryuk (its image would come from a registry); afterAll removes what this test started, and the next
    // run removes what a killed run left (removeLeftovers).
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    let clock = Date.now();
    const phase = (name: string) => {
      phases[name] = Math.round((Date.now() - clock) / 1000);
      clock = Date.now();
    };
    await removeLeftovers();
    // test.sh starts the image build in the background before the suite: let it finish (bounded) rather than
    // build beside it. Then base images (built from Debian once, about 3 minutes cold) and the app image (a few
    // seconds warm), which that build has usually made already.
    await backgroundBuildDone(20 * 60_000);
    console.warn(await run(join(repoRoot, 'scripts', 'build-images.sh'), [], 20 * 60_000));
    phase('images');
    folder = await mkdtemp(join(tmpdir(), 'ndx-containers-'));
    const secretsFile = join(folder, 'secrets.json');
    env = composeEnv({ secretsFile, seedCitizens: 2_000 });
    secrets = (await import(secretsFile, { with: { type: 'json' } })).default as Record<string, string>;
    const compose = readComposeFile();
    network = await startNetwork();
    for (const wave of composeStartWaves(compose)) {
      // Two Orchestration Engines, as `docker compose up --scale orchestration-engine=2`.
      const replicas = wave.flatMap((name) => (name === 'orchestration-engine' ? [name, name] : [name]));
      const start = (name: string) => startComposeService(compose, name, env, network!, 10 * 60_000);
      const results = await Promise.allSettled(
        replicas.map((name) =>
          start(name).catch((err: Error) => {
            if (!compose.services[name]?.restart) throw err;
            // As `docker compose up` would under the service's restart policy (unless-stopped): once more. Said on
            // the console with the first container's log, so that a service that needed it is seen.
            console.warn(
              `containers test: ${name} started again, as its restart policy would: ${err.message}`,
            );
            return start(name);
          }),
        ),
      );
      for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        const failedNames = [...new Set(replicas.filter((_, i) => results[i]!.status === 'rejected'))];
        const tails = await Promise.all([
          ...failedNames.map((name) => failedServiceReport(name)),
          ...started.map(async (s) => `--- ${s.name}\n${await logTail(s.container, 10)}`),
        ]);
        throw new Error(
          `${failedNames.join(', ')}: ${(failed.reason as Error).message}\n${tails.join('\n')}`,
        );
      }
    }
    phase('stack healthy');
    console.warn(`containers test phases (s): ${JSON.stringify(phases)}`);
  }, 35 * 60_000);

  afterAll(async () => {
    await Promise.allSettled([...started].reverse().map((s) => s.container.stop({ timeout: 10_000 })));
    await network?.stop().catch(() => undefined);
    if (folder) await rm(folder, { recursive: true, force: true });
  }, 180_000);

  it('starts every service of docker-compose.yml healthy, two Orchestration Engines among them', async () => {
    const names = started.map((s) => s.name);
    expect(new Set(names)).toEqual(
      new Set([
        'postgres',
        'identity-provider',
        'rgd-api',
        'drp-api',
        'drp-api-adapter',
        'dmt-soap-api',
        'dmt-api-adapter',
        'policy-decision-point',
        'consent-engine',
        'orchestration-engine',
        'passport-app',
      ]),
    );
    expect(names.filter((n) => n === 'orchestration-engine')).toHaveLength(2);
    // The services run as the image's non-root user.
    const user = await started.find((s) => s.name === 'consent-engine')!.container.exec(['id', '-u']);
    expect(user.output.trim()).toBe('1000');
  });

  it("answers the passport query with a consented citizen's record merged from RGD and DRP, on either OE", async () => {
    for (const replica of [0, 1]) {
      const answer = await passportQuery(service('orchestration-engine', replica), DALISO);
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.personInfo).toMatchObject({
        name: 'Daliso Phiri',
        birthInfo: { district: 'Ilanga' },
      });
    }
  });

  it('answers CONSENT_REQUIRED with a consent portal link when the citizen has not consented', async () => {
    const answer = await passportQuery(service('orchestration-engine', 1), AMARA);
    expect(codes(answer)).toEqual(['CONSENT_REQUIRED']);
    expect(answer.errors![0]!.extensions!.consentPortalUrl).toMatch(
      new RegExp(`^${composeUrl('consent-engine').replaceAll('.', '\\.')}/consent/[0-9a-f-]{36}$`),
    );
  });

  it('a consent revoked through the consent engine’s API stops the next query on both OEs', async () => {
    const ce = service('consent-engine').url(port('consent-engine'));
    const serviceToken = await token('orchestration-engine', 'urn:ndx:consent');
    const call = async (path: string, body: unknown) => {
      const response = await fetch(`${ce}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      expect(response.status, path).toBe(200);
      return (await response.json()) as { covered?: boolean; consentId?: string; status?: string };
    };
    const check = await call('/v1/consents/check', {
      citizenId: DALISO,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
    });
    expect(check.covered).toBe(true);
    const revoked = await call(`/v1/consents/${check.consentId}/revoke`, {});
    expect(revoked.status).toBe('REVOKED');
    for (const replica of [0, 1]) {
      const answer = await passportQuery(service('orchestration-engine', replica), DALISO);
      expect(codes(answer)).toEqual(['CONSENT_REQUIRED']);
      expect(answer.data?.personInfo?.name ?? null).toBeNull();
    }
  });

  it('keeps one audit chain per OE, and `ndx audit verify` finds every chain intact', async () => {
    const postgres = service('postgres');
    const url = `postgres://ndx_audit_owner:${encodeURIComponent(secrets['postgres.ndx_audit']!)}@127.0.0.1:${postgres.container.getMappedPort(5432)}/ndx_audit`;
    const verify = await runNdx(['audit', 'verify'], { DATABASE_URL: url });
    expect(verify.code, verify.stderr).toBe(0);
    const chains = [...verify.stdout.matchAll(/^chain (\S+): intact, (\d+) records/gm)];
    // Each OE answered at least two queries above, each on its own chain.
    expect(chains).toHaveLength(2);
    for (const [, , records] of chains) expect(Number(records)).toBeGreaterThanOrEqual(2);
  });
});
