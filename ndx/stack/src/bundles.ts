import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { serviceEntry } from '@ndx/service-kit/serve';
import type { ServiceDefinition } from './services.ts';

/**
 * Each service, and each prepare script, run from one bundled file (esbuild) instead of its few hundred source and
 * package modules. Node's module loader (resolving, reading and compiling each file) was about half of a service's
 * start; bundled, the processes of a stack start take about a quarter less CPU (docs/performance.md "The test
 * suite's time"), which every stack test pays.
 *
 * A bundle is built from the same sources on first use and again whenever one of its inputs changes (their sizes
 * and modification times are kept beside it), into node_modules/.cache/ndx-bundles. Anything that stops a bundle
 * (esbuild missing, a build error) runs the source instead; NDX_BUNDLE=0 always runs the source.
 */

export type BundleKind = 'serve' | 'prepare';

/** The processes a service runs: itself, and its prepare script when it has one. */
export function bundleKindsOf(service: ServiceDefinition): BundleKind[] {
  return service.wiring.prepareScript ? ['serve', 'prepare'] : ['serve'];
}

/** Bump when the build below changes, so that bundles from an older build are not reused. */
const BUILD_VERSION = 1;
/** Packages that find their own files beside their modules, or are optional: loaded from node_modules. */
const EXTERNAL = ['@cedar-policy/cedar-wasm', 'pg-native'];

interface InputStamp {
  size: number;
  mtimeMs: number;
}
interface BundleManifest {
  buildVersion: number;
  inputs: Record<string, InputStamp>;
}

const serveModule = createRequire(import.meta.url).resolve('@ndx/service-kit/serve');

function bundleDir(repoRoot: string): string {
  return join(repoRoot, 'node_modules', '.cache', 'ndx-bundles');
}

/** The entry a bundle starts from: the service through service-kit's serve.ts, or its prepare script. */
function entrySource(repoRoot: string, service: ServiceDefinition, kind: BundleKind): string {
  const folder = join(repoRoot, service.dir);
  if (kind === 'prepare') {
    if (!service.wiring.prepareScript) throw new Error(`${service.name} has no prepare script`);
    return `import ${JSON.stringify(join(folder, service.wiring.prepareScript))};\n`;
  }
  return [
    `import { resolve } from 'node:path';`,
    `import { serveLoaded } from ${JSON.stringify(serveModule)};`,
    `import * as entry from ${JSON.stringify(join(folder, serviceEntry(folder)))};`,
    `serveLoaded(resolve(process.argv[2] ?? '.'), async () => entry);`,
    '',
  ].join('\n');
}

/**
 * What `import.meta` says in a module that was bundled: its own folder, file and URL (so it still finds the files
 * beside it, found from the bundle's place), and "main" only in a prepare script itself (a service's bundle starts
 * from an entry of its own).
 */
function importMetaOf(
  bundleFolder: string,
  sourceFile: string,
  mainFile: string | undefined,
): Record<string, string> {
  const toFile = JSON.stringify(relative(bundleFolder, sourceFile));
  const toFolder = JSON.stringify(relative(bundleFolder, dirname(sourceFile)));
  return {
    'import.meta.dirname': `__ndxJoin(import.meta.dirname, ${toFolder})`,
    'import.meta.filename': `__ndxJoin(import.meta.dirname, ${toFile})`,
    'import.meta.url': `__ndxFileUrl(__ndxJoin(import.meta.dirname, ${toFile})).href`,
    'import.meta.main': String(sourceFile === mainFile),
  };
}

async function build(repoRoot: string, service: ServiceDefinition, kind: BundleKind, outfile: string) {
  const esbuild = await import('esbuild');
  const folder = dirname(outfile);
  const mainFile =
    kind === 'prepare' && service.wiring.prepareScript
      ? join(repoRoot, service.dir, service.wiring.prepareScript)
      : undefined;
  const entryName = `${service.name}-${kind}-entry.ts`;
  const result = await esbuild.build({
    stdin: {
      contents: entrySource(repoRoot, service, kind),
      resolveDir: join(repoRoot, service.dir),
      sourcefile: entryName,
      loader: 'ts',
    },
    // Inputs in the metafile are named relative to this folder.
    absWorkingDir: repoRoot,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: `${outfile}.${process.pid}.tmp`,
    external: EXTERNAL,
    metafile: true,
    logLevel: 'silent',
    // CommonJS packages inside an ES bundle still call require() for Node's own modules.
    banner: {
      js: [
        `import { createRequire as __ndxCreateRequire } from 'node:module';`,
        `import { join as __ndxJoin } from 'node:path';`,
        `import { pathToFileURL as __ndxFileUrl } from 'node:url';`,
        `const require = __ndxCreateRequire(import.meta.url);`,
      ].join(' '),
    },
    plugins: [
      {
        name: 'import-meta-of-each-module',
        setup(b) {
          b.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
            if (args.path.includes(`${'/'}node_modules${'/'}`)) return undefined;
            let contents = await readFile(args.path, 'utf8');
            if (!contents.includes('import.meta.')) return undefined;
            for (const [from, to] of Object.entries(importMetaOf(folder, args.path, mainFile)))
              contents = contents.replaceAll(from, to);
            return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
          });
        },
      },
    ],
  });
  const inputs: Record<string, InputStamp> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input === join(service.dir, entryName)) continue; // generated above, not a file
    const file = resolve(repoRoot, input);
    const { size, mtimeMs } = await stat(file);
    inputs[file] = { size, mtimeMs };
  }
  // The service's package.json decides the entry: a new one means a new bundle.
  const manifestFile = join(repoRoot, service.dir, 'package.json');
  const { size, mtimeMs } = await stat(manifestFile);
  inputs[manifestFile] = { size, mtimeMs };
  const manifest: BundleManifest = { buildVersion: BUILD_VERSION, inputs };
  // Written aside and renamed: two stacks starting at once never run a half-written bundle.
  await writeFile(`${outfile}.json.${process.pid}.tmp`, JSON.stringify(manifest));
  await rename(`${outfile}.${process.pid}.tmp`, outfile);
  await rename(`${outfile}.json.${process.pid}.tmp`, `${outfile}.json`);
}

async function isFresh(outfile: string): Promise<boolean> {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await readFile(`${outfile}.json`, 'utf8')) as BundleManifest;
    await stat(outfile);
  } catch {
    return false;
  }
  if (manifest.buildVersion !== BUILD_VERSION) return false;
  const stamps = await Promise.all(
    Object.entries(manifest.inputs).map(async ([file, was]) => {
      const now = await stat(file).catch(() => undefined);
      return now?.size === was.size && now.mtimeMs === was.mtimeMs;
    }),
  );
  return stamps.every(Boolean);
}

/**
 * The script to run for a service's process: its up-to-date bundle (built now if missing or stale), or undefined
 * when it cannot be bundled (the caller runs the source; `why` says why).
 */
export async function bundledScript(
  repoRoot: string,
  service: ServiceDefinition,
  kind: BundleKind,
  why: (message: string) => void,
  outDir = bundleDir(repoRoot),
): Promise<string | undefined> {
  if (process.env.NDX_BUNDLE === '0') return undefined;
  const outfile = join(outDir, service.name, `${kind}.mjs`);
  try {
    if (await isFresh(outfile)) return outfile;
    await mkdir(dirname(outfile), { recursive: true });
    await build(repoRoot, service, kind, outfile);
    return outfile;
  } catch (err) {
    await rm(`${outfile}.${process.pid}.tmp`, { force: true });
    why(`${service.name}: runs from source, not bundled (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

/**
 * Builds every service's missing or stale bundles now (the test run does before its stacks start, so that stacks
 * starting side by side do not each build the same ones).
 */
export async function prebuildBundles(
  repoRoot: string,
  services: readonly ServiceDefinition[],
  why: (message: string) => void,
): Promise<void> {
  await Promise.all(
    services.flatMap((service) =>
      bundleKindsOf(service).map((kind) => bundledScript(repoRoot, service, kind, why)),
    ),
  );
}
