import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { getComposedSchemaFromConfig, loadGraphQLHTTPSubgraph } from '@graphql-mesh/compose-cli';
import { repoRoot } from './stack.ts';

type ComposeLogger = Parameters<typeof getComposedSchemaFromConfig>[1];

/** A quiet logger for the composer (warnings and errors only). */
function composeLogger(): ComposeLogger {
  const logger: ComposeLogger = {
    log: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    warn: (...args: unknown[]) => console.warn('compose:', ...args),
    error: (...args: unknown[]) => console.error('compose:', ...args),
    child: () => logger,
  };
  return logger;
}

/**
 * Composes the supergraph of the two sources with @graphql-mesh/compose-cli's loadGraphQLHTTPSubgraph,
 * from the providers' pinned schemas (the ones the OE checks against), and writes it to `file`.
 */
export async function composeSupergraph(file: string, rgdUrl: string, drpUrl: string): Promise<void> {
  const sdl = await getComposedSchemaFromConfig(
    {
      cwd: repoRoot,
      subgraphs: [
        {
          sourceHandler: loadGraphQLHTTPSubgraph('rgd', {
            endpoint: `${rgdUrl}/graphql`,
            source: join(repoRoot, 'ndx/orchestration-engine/provider-schemas/rgd.graphql'),
          }),
        },
        {
          sourceHandler: loadGraphQLHTTPSubgraph('drp', {
            endpoint: `${drpUrl}/graphql`,
            source: join(repoRoot, 'ndx/orchestration-engine/provider-schemas/drp.graphql'),
          }),
        },
      ],
    },
    composeLogger(),
  );
  await writeFile(file, sdl);
}

export interface RunningGateway {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/**
 * One Hive Gateway process (the published CLI, NODE_ENV=production, one worker) serving the supergraph
 * with bench/peer/gateway.config.ts.
 */
export async function startGateway(options: {
  supergraphFile: string;
  port: number;
  dedup: boolean;
  rgdToken: string;
  drpApiKey: string;
}): Promise<RunningGateway> {
  const bin = join(
    createRequire(import.meta.url)
      .resolve('@graphql-hive/gateway')
      .replace(/index\.(c?js)$/, ''),
    'bin.js',
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [
      bin,
      'supergraph',
      options.supergraphFile,
      '--port',
      String(options.port),
      '--host',
      '127.0.0.1',
      '--fork',
      '1',
      '--config-path',
      join(repoRoot, 'bench/peer/gateway.config.ts'),
    ],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'production',
        BENCH_DEDUP: options.dedup ? 'on' : 'off',
        BENCH_RGD_TOKEN: options.rgdToken,
        BENCH_DRP_API_KEY: options.drpApiKey,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Hive Gateway exited:\n${output.join('')}`);
    try {
      const response = await fetch(`${url}/healthcheck`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Hive Gateway not ready after 120 s:\n${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
