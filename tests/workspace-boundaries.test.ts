import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '@ndx/stack';
import { repoRoot } from './support/test-stack.ts';
import {
  fileCycles,
  layeringViolations,
  packageCycles,
  readImportGraph,
  undeclaredImports,
  unusedDeclarations,
  versionMismatches,
  type ImportGraph,
  type Layering,
} from './support/workspace-imports.ts';

/** Kits are the ndx/ workspaces that are neither a service nor the stack; member data is members/ minus services. */
function layeringOf(graph: ImportGraph): Layering {
  const nameOf = (dir: string) => graph.workspaces.find((w) => w.dir === dir)!.name;
  const serviceNames = services.map((s) => nameOf(s.dir));
  const others = graph.workspaces.filter((w) => !serviceNames.includes(w.name) && w.name !== '@ndx/stack');
  return {
    services: serviceNames,
    stack: '@ndx/stack',
    kits: others.filter((w) => w.dir.startsWith('ndx/')).map((w) => w.name),
    memberData: others.filter((w) => w.dir.startsWith('members/')).map((w) => w.name),
  };
}

describe('the repository’s import graph', () => {
  let graph: ImportGraph;
  beforeAll(() => {
    graph = readImportGraph(repoRoot);
  });

  it('reads every service, kit and test file, and resolves every import', () => {
    expect(graph.files).toEqual(
      expect.arrayContaining([
        'ndx/stack/src/services.ts',
        'ndx/identity-provider/stack.ts',
        'ndx/service-kit/testing/index.ts',
        'members/rgd/data-sources/rgd-api/src/app.ts',
        'tests/support/test-stack.ts',
      ]),
    );
    expect(graph.unresolved).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(fileCycles(graph)).toEqual([]);
  });

  it('has no dependency cycle between workspace packages (tests included)', () => {
    expect(packageCycles(graph)).toEqual([]);
  });

  it('declares in each workspace’s package.json exactly what its files import, and keeps relative imports inside it', () => {
    expect(undeclaredImports(graph)).toEqual([]);
    expect(unusedDeclarations(graph)).toEqual([]);
    expect(versionMismatches(graph)).toEqual([]);
  });

  it('keeps the layers: kits import no service, a service no other service, the stack only services’ wiring', () => {
    const layering = layeringOf(graph);
    expect(layering.kits.sort()).toEqual(
      expect.arrayContaining(['@ndx/adapter-kit', '@ndx/audit', '@ndx/contract', '@ndx/service-kit']),
    );
    expect(layering.services).toHaveLength(10);
    expect(layering.memberData).toEqual(['@ndx/synthetic-data']);
    expect(layeringViolations(graph, layering)).toEqual([]);
  });
});

describe('test helpers in production code', () => {
  const probe =
    `import { testLogger } from '@ndx/service-kit/testing';\n` +
    `import { CookieJar } from '@ndx/identity-provider/testing-browser';\n` +
    `import { fixturePersons } from '../testing/index.ts';\n` +
    `import { inject } from 'vitest';\n` +
    `export const used = [testLogger, CookieJar, fixturePersons, inject];\n`;
  const lint = async (file: string) => {
    const [result] = await new ESLint({ cwd: repoRoot }).lintText(probe, { filePath: `${repoRoot}/${file}` });
    return result!.messages.map((m) => `${m.line} ${m.ruleId}`);
  };

  it('are refused by the lint rules in a service’s src/ and stack.ts, and allowed in its tests', async () => {
    const refused = ['1', '2', '3', '4'].map((line) => `${line} no-restricted-imports`);
    expect(await lint('ndx/consent-engine/src/probe.ts')).toEqual(refused);
    expect(await lint('members/drp/data-sources/drp-api/src/probe.ts')).toEqual(refused);
    expect(await lint('ndx/policy-decision-point/stack.ts')).toEqual(refused);
    expect(await lint('ndx/consent-engine/test/probe.ts')).toEqual([]);
  });
});

describe('the import checks on a repository that breaks every rule', () => {
  let root: string;
  let graph: ImportGraph;
  const write = (file: string, content: string) => {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), content);
  };
  const manifest = (name: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ name, version: '0.1.0', exports: { '.': './src/index.ts' }, ...extra });

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ndx-imports-'));
    execFileSync('git', ['init', '-q'], { cwd: root });
    write(
      'package.json',
      JSON.stringify({ name: 'fixture', workspaces: ['ndx/*', 'members/*'], devDependencies: { zod: '^4' } }),
    );
    write('ndx/kit/package.json', manifest('@f/kit', { dependencies: { '@f/alpha': '*' } }));
    write('ndx/kit/src/index.ts', `import { a } from '@f/alpha';\nexport const k = a;\n`);
    write(
      'ndx/alpha/package.json',
      manifest('@f/alpha', { dependencies: { '@f/kit': '*', '@f/data': '^1', pino: '^10' } }),
    );
    write(
      'ndx/alpha/src/index.ts',
      `import { b } from './b.ts';\nimport { k } from '@f/kit';\nimport { z } from 'zod';\n` +
        `import { beta } from '@f/beta';\nimport { d } from '@f/data';\nimport { read } from 'node:fs';\n` +
        `import { inner } from '../../beta/src/inner.ts';\nexport const a = [b, k, z, beta, d, read, inner];\n`,
    );
    write('ndx/alpha/src/b.ts', `import type { a } from './index.ts';\nexport const b: typeof a = [];\n`);
    write('ndx/beta/package.json', manifest('@f/beta', { dependencies: { zod: '^3' } }));
    write('ndx/beta/src/index.ts', `import { z } from 'zod';\nexport const beta = z;\n`);
    write('ndx/beta/src/inner.ts', `export const inner = 1;\n`);
    write('ndx/stack/package.json', manifest('@f/stack', { dependencies: { '@f/alpha': '*' } }));
    write('ndx/stack/src/index.ts', `import { a } from '@f/alpha';\nexport const s = a;\n`);
    write('members/data/package.json', manifest('@f/data'));
    write('members/data/src/index.ts', `export const d = 1;\n`);
    graph = readImportGraph(root);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds the files that import each other in a circle, type-only imports included', () => {
    // alpha/index ⇄ alpha/b (b's import is type-only), and alpha/index → kit/index → alpha/index
    expect(fileCycles(graph)).toEqual([
      ['ndx/alpha/src/b.ts', 'ndx/alpha/src/index.ts', 'ndx/kit/src/index.ts'],
    ]);
  });

  it('finds the cycle between two packages', () => {
    expect(packageCycles(graph)).toEqual([['@f/alpha', '@f/kit']]);
  });

  it('finds undeclared and unused packages, an escaping relative import, and two ranges of one package', () => {
    expect(undeclaredImports(graph)).toEqual([
      'ndx/alpha/src/index.ts: ../../beta/src/inner.ts reaches into @f/beta; import it by package name',
      'ndx/alpha/src/index.ts: @f/beta is not declared in ndx/alpha/package.json (dependencies)',
      'ndx/alpha/src/index.ts: zod is not declared in ndx/alpha/package.json (dependencies)',
    ]);
    expect(unusedDeclarations(graph)).toEqual([
      'ndx/alpha/package.json declares pino, which none of its files imports',
    ]);
    expect(versionMismatches(graph)).toEqual([
      '@f/alpha declares the workspace @f/data as ^1, not "*"',
      'zod is declared as ^3 and ^4',
    ]);
  });

  it('finds a kit importing a service, a service importing another, an NDX service importing member data, and the stack importing more than a service’s wiring', () => {
    const layering: Layering = {
      kits: ['@f/kit'],
      services: ['@f/alpha', '@f/beta'],
      stack: '@f/stack',
      memberData: ['@f/data'],
    };
    expect(layeringViolations(graph, layering)).toEqual([
      'ndx/alpha/src/index.ts: the NDX service @f/alpha imports member data @f/data',
      'ndx/alpha/src/index.ts: the service @f/alpha imports @f/beta; services talk over HTTP',
      'ndx/kit/src/index.ts: the kit @f/kit imports @f/alpha',
      'ndx/stack/src/index.ts: the stack imports @f/alpha; only a service’s ./stack wiring',
    ]);
  });
});
