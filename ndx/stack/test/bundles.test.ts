/**
 * The launcher runs each service and prepare script from an esbuild bundle (bundles.ts). A bundled module must still
 * find the files beside its source (import.meta), a changed source must give a new bundle, and anything that stops
 * a bundle must leave the source to run. Checked on a small service folder of the test's own, run with node.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledScript } from '../src/bundles.ts';
import type { ServiceDefinition } from '../src/services.ts';

const run = async (script: string) =>
  JSON.parse((await promisify(execFile)(process.execPath, [script])).stdout) as Record<string, unknown>;

let root: string;
let outDir: string;
let service: ServiceDefinition;
const helperSource = (word: string) =>
  `export const helper = () => ({ word: ${JSON.stringify(word)}, dirname: import.meta.dirname, main: import.meta.main });\n`;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ndx-bundles-'));
  outDir = join(root, 'bundles');
  await mkdir(join(root, 'svc', 'src', 'lib'), { recursive: true });
  await writeFile(join(root, 'svc', 'package.json'), JSON.stringify({ exports: { '.': './src/app.ts' } }));
  await writeFile(join(root, 'svc', 'data.txt'), 'found beside the source');
  await writeFile(join(root, 'svc', 'src', 'lib', 'helper.ts'), helperSource('first'));
  // The fixture's script prints what it sees as one JSON line, which run() parses.
  await writeFile(
    join(root, 'svc', 'src', 'prepare.ts'),
    [
      `import { readFileSync } from 'node:fs';`,
      `import { join } from 'node:path';`,
      `import { helper } from './lib/helper.ts';`,
      `const meta = { dirname: import.meta.dirname, filename: import.meta.filename, url: import.meta.url, main: import.meta.main };`,
      `const beside = readFileSync(join(import.meta.dirname, '..', 'data.txt'), 'utf8');`,
      `console.log(JSON.stringify({ meta, beside, helper: helper() }));`,
    ].join('\n'),
  );
  service = {
    name: 'fake-service' as ServiceDefinition['name'],
    title: 'a service folder of the test',
    dir: 'svc',
    defaultPort: 1,
    dependsOn: [],
    wiring: { env: () => ({}), prepareScript: 'src/prepare.ts' },
  };
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('bundled scripts', () => {
  it('see the same import.meta as their sources: folder, file, URL, main, and the files beside them', async () => {
    const reasons: string[] = [];
    const bundle = await bundledScript(root, service, 'prepare', (m) => reasons.push(m), outDir);
    expect(reasons).toEqual([]);
    expect(bundle).toBe(join(outDir, 'fake-service', 'prepare.mjs'));
    const fromSource = await run(join(root, 'svc', 'src', 'prepare.ts'));
    expect(fromSource).toMatchObject({
      meta: { dirname: join(root, 'svc', 'src'), main: true },
      beside: 'found beside the source',
      helper: { word: 'first', dirname: join(root, 'svc', 'src', 'lib'), main: false },
    });
    expect(await run(bundle!)).toEqual(fromSource);
  });

  it('are reused while their inputs are unchanged, and rebuilt when one changes', async () => {
    const first = await bundledScript(root, service, 'prepare', () => undefined, outDir);
    const builtAt = (await stat(first!)).mtimeMs;
    expect(await bundledScript(root, service, 'prepare', () => undefined, outDir)).toBe(first);
    expect((await stat(first!)).mtimeMs).toBe(builtAt);

    await writeFile(join(root, 'svc', 'src', 'lib', 'helper.ts'), helperSource('second'));
    const again = await bundledScript(root, service, 'prepare', () => undefined, outDir);
    expect(await run(again!)).toMatchObject({ helper: { word: 'second' } });
  });

  it('leave the source to run when the bundle cannot be built, or when NDX_BUNDLE=0', async () => {
    const broken = { ...service, name: 'broken-service' as ServiceDefinition['name'] };
    broken.wiring = { ...service.wiring, prepareScript: 'src/broken.ts' };
    await writeFile(join(root, 'svc', 'src', 'broken.ts'), 'export const = ;\n');
    const reasons: string[] = [];
    expect(await bundledScript(root, broken, 'prepare', (m) => reasons.push(m), outDir)).toBeUndefined();
    expect(reasons).toEqual([expect.stringMatching(/^broken-service: runs from source, not bundled \(/)]);

    process.env.NDX_BUNDLE = '0';
    try {
      expect(await bundledScript(root, service, 'prepare', () => undefined, outDir)).toBeUndefined();
    } finally {
      delete process.env.NDX_BUNDLE;
    }
  });
});
