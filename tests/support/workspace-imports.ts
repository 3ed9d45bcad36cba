import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * The repository's import graph, read from the source text (TypeScript's import scanner: static
 * imports and re-exports, `import type`, and `import('literal')`), and the rules it must keep:
 * no import cycle between files or between workspace packages, each workspace declares what it
 * imports, relative imports stay inside their workspace, and the layering of kits and services.
 */

export interface Workspace {
  name: string;
  /** Folder relative to the repository root ('' for the root package). */
  dir: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  exports: Record<string, string>;
}

export interface ImportEdge {
  /** Importing file, relative to the root. */
  from: string;
  specifier: string;
  /** The imported file (relative), when it is one of the repository's own. */
  file?: string;
  /** The imported workspace or npm package, for a bare specifier. */
  pkg?: string;
  /** The imported workspace package's subpath ('.' for its main entry). */
  subpath?: string;
}

export interface ImportGraph {
  root: string;
  rootWorkspace: Workspace;
  workspaces: Workspace[];
  files: string[];
  edges: ImportEdge[];
  /** Imports that resolve to nothing: a relative path that is not a file, a subpath a workspace does not export. */
  unresolved: string[];
  workspaceOf: (file: string) => Workspace;
}

const CODE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Reads every code file git knows (tracked, or untracked and not ignored) and its imports. */
export function readImportGraph(root: string): ImportGraph {
  const rootWorkspace = readWorkspace(root, '');
  const patterns = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] })
    .workspaces;
  const workspaces = patterns
    .flatMap((pattern) => expandPattern(root, pattern))
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .map((dir) => readWorkspace(root, dir));
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const workspaceOf = (file: string): Workspace =>
    workspaces.filter((w) => file.startsWith(w.dir + '/')).sort((a, b) => b.dir.length - a.dir.length)[0] ??
    rootWorkspace;

  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\0')
    .filter((f) => CODE.test(f) && !f.split('/').includes('node_modules') && existsSync(join(root, f)))
    .filter((f, i, all) => all.indexOf(f) === i)
    .sort();

  const edges: ImportEdge[] = [];
  const unresolved: string[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), 'utf8');
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (specifier.startsWith('node:') || isBuiltin(specifier)) continue;
      if (specifier.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(from), specifier))
          .split(sep)
          .join('/');
        if (!existsSync(join(root, target))) unresolved.push(`${from}: ${specifier} is no file`);
        edges.push({ from, specifier, ...(CODE.test(target) ? { file: target } : {}) });
        continue;
      }
      const parts = specifier.split('/');
      const pkg = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
      const rest = parts.slice(specifier.startsWith('@') ? 2 : 1).join('/');
      const subpath = rest ? `./${rest}` : '.';
      const workspace = byName.get(pkg);
      if (!workspace) {
        edges.push({ from, specifier, pkg });
        continue;
      }
      const target = workspace.exports[subpath];
      if (!target) unresolved.push(`${from}: ${pkg} exports no "${subpath}"`);
      edges.push({
        from,
        specifier,
        pkg,
        subpath,
        ...(target ? { file: join(workspace.dir, target).split(sep).join('/') } : {}),
      });
    }
  }
  return { root, rootWorkspace, workspaces, files, edges, unresolved, workspaceOf };
}

/** Every cycle of imports between files, each as the files on it (from a strongly connected component). */
export function fileCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, Set<string>>();
  for (const edge of graph.edges) {
    if (!edge.file) continue;
    const set = next.get(edge.from) ?? new Set<string>();
    set.add(edge.file);
    next.set(edge.from, set);
  }
  return cycles(graph.files, next);
}

/** Every cycle of dependencies between workspace packages (what their files import, tests included). */
export function packageCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, Set<string>>();
  for (const [from, to] of packageEdges(graph)) {
    const set = next.get(from) ?? new Set<string>();
    set.add(to);
    next.set(from, set);
  }
  return cycles(
    graph.workspaces.map((w) => w.name),
    next,
  );
}

/** [importing workspace, imported workspace] for every import between two different workspaces. */
export function packageEdges(graph: ImportGraph): [string, string][] {
  const names = new Set(graph.workspaces.map((w) => w.name));
  const seen = new Set<string>();
  const result: [string, string][] = [];
  for (const edge of graph.edges) {
    const from = graph.workspaceOf(edge.from).name;
    if (!edge.pkg || !names.has(edge.pkg) || edge.pkg === from || !names.has(from)) continue;
    const key = `${from} ${edge.pkg}`;
    if (seen.has(key)) continue;
    seen.add(key);
    result.push([from, edge.pkg]);
  }
  return result;
}

/** True for test code: a test folder, a `testing` entry, a *.test.ts, or the end-to-end workspace. */
export function isTestCode(file: string): boolean {
  const parts = file.split('/');
  return (
    parts.includes('test') || parts.includes('testing') || /\.test\.ts$/.test(file) || parts[0] === 'tests'
  );
}

/**
 * What a workspace imports and does not declare: production code needs `dependencies`, test code
 * `dependencies` or `devDependencies`; relative imports stay inside the importing workspace. The root
 * package's own files (benchmarks, configs) are the repository's tooling, not a package anyone depends
 * on: they may import any workspace (by name or path), and declare the npm packages they use.
 */
export function undeclaredImports(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const edge of graph.edges) {
    const workspace = graph.workspaceOf(edge.from);
    const isRoot = workspace === graph.rootWorkspace;
    if (!edge.pkg) {
      if (!isRoot && edge.file && graph.workspaceOf(edge.file) !== workspace) {
        problems.push(
          `${edge.from}: ${edge.specifier} reaches into ${graph.workspaceOf(edge.file).name}; import it by package name`,
        );
      }
      continue;
    }
    if (edge.pkg === workspace.name) {
      problems.push(`${edge.from}: imports its own package ${edge.specifier}; use a relative import`);
      continue;
    }
    if (isRoot && graph.workspaces.some((w) => w.name === edge.pkg)) continue;
    const test = isTestCode(edge.from);
    if (edge.pkg in workspace.dependencies) continue;
    if (edge.pkg in workspace.devDependencies) {
      if (test || isRoot) continue;
      problems.push(
        `${edge.from}: ${edge.pkg} is a devDependency of ${workspace.name} but production code imports it`,
      );
      continue;
    }
    problems.push(
      `${edge.from}: ${edge.pkg} is not declared in ${workspace.dir || '.'}/package.json (${test ? 'devDependencies' : 'dependencies'})`,
    );
  }
  return [...new Set(problems)].sort();
}

/** Declared packages no file of the workspace imports (the root's tools and @types are exempt). */
export function unusedDeclarations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const workspace of graph.workspaces) {
    const imported = new Set(
      graph.edges.filter((e) => e.pkg && graph.workspaceOf(e.from) === workspace).map((e) => e.pkg!),
    );
    for (const pkg of [...Object.keys(workspace.dependencies), ...Object.keys(workspace.devDependencies)]) {
      if (!imported.has(pkg) && !pkg.startsWith('@types/')) {
        problems.push(`${workspace.dir}/package.json declares ${pkg}, which none of its files imports`);
      }
    }
  }
  return problems.sort();
}

/**
 * An npm package declared with two different version ranges (one version of each library in the
 * system), or a workspace package declared as anything but "*".
 */
export function versionMismatches(graph: ImportGraph): string[] {
  const workspaceNames = new Set(graph.workspaces.map((w) => w.name));
  const problems: string[] = [];
  const ranges = new Map<string, Set<string>>();
  for (const workspace of [graph.rootWorkspace, ...graph.workspaces]) {
    for (const [pkg, range] of Object.entries({ ...workspace.dependencies, ...workspace.devDependencies })) {
      if (workspaceNames.has(pkg)) {
        if (range !== '*')
          problems.push(`${workspace.name} declares the workspace ${pkg} as ${range}, not "*"`);
      } else {
        ranges.set(pkg, new Set([...(ranges.get(pkg) ?? []), range]));
      }
    }
  }
  for (const [pkg, set] of ranges) {
    if (set.size > 1) problems.push(`${pkg} is declared as ${[...set].sort().join(' and ')}`);
  }
  return problems.sort();
}

export interface Layering {
  /** Shared code every service may import; a kit imports no service and no member package. */
  kits: string[];
  /** The services (as the stack's catalogue lists them). */
  services: string[];
  /** The launcher: it imports a service only through the service's `./stack` wiring. */
  stack: string;
  /** Member packages an NDX service (a service under ndx/) must not import: member data stays with the members. */
  memberData: string[];
}

/** Imports that break the layering of kits, services and the stack. */
export function layeringViolations(graph: ImportGraph, layering: Layering): string[] {
  const problems: string[] = [];
  const services = new Set(layering.services);
  const kits = new Set(layering.kits);
  for (const edge of graph.edges) {
    if (!edge.pkg) continue;
    const from = graph.workspaceOf(edge.from);
    if (edge.pkg === from.name) continue;
    if (kits.has(from.name) && (services.has(edge.pkg) || layering.memberData.includes(edge.pkg))) {
      problems.push(`${edge.from}: the kit ${from.name} imports ${edge.pkg}`);
    }
    if (services.has(from.name) && !isTestCode(edge.from)) {
      if (services.has(edge.pkg) || edge.pkg === layering.stack) {
        problems.push(`${edge.from}: the service ${from.name} imports ${edge.pkg}; services talk over HTTP`);
      }
      if (from.dir.startsWith('ndx/') && layering.memberData.includes(edge.pkg)) {
        problems.push(`${edge.from}: the NDX service ${from.name} imports member data ${edge.pkg}`);
      }
    }
    if (from.name === layering.stack && services.has(edge.pkg) && edge.subpath !== './stack') {
      problems.push(`${edge.from}: the stack imports ${edge.specifier}; only a service’s ./stack wiring`);
    }
  }
  return [...new Set(problems)].sort();
}

function readWorkspace(root: string, dir: string): Workspace {
  const json = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
    exports?: string | Record<string, string>;
  };
  const exports = typeof json.exports === 'string' ? { '.': json.exports } : (json.exports ?? {});
  return {
    name: json.name,
    dir,
    dependencies: json.dependencies ?? {},
    devDependencies: json.devDependencies ?? {},
    exports,
  };
}

/** Expands an npm workspaces pattern whose `*` stand for one folder name each. */
function expandPattern(root: string, pattern: string): string[] {
  let dirs = [''];
  for (const part of pattern.split('/')) {
    dirs = dirs.flatMap((dir) => {
      if (part !== '*') return existsSync(join(root, dir, part)) ? [join(dir, part)] : [];
      return readdirSync(join(root, dir), { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && entry.name !== 'node_modules')
        .map((entry) => join(dir, entry.name));
    });
  }
  return dirs.map((d) => d.split(sep).join('/'));
}

/** The cycles of a directed graph: its strongly connected components with more than one node, or a self-loop. */
function cycles(nodes: string[], next: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    indices.set(node, index);
    low.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!indices.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, indices.get(target)!));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || next.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of nodes) if (!indices.has(node)) visit(node);
  return found;
}
