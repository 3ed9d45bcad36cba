import pg from 'pg';
import { NdxError, NotFoundError, type Logger, type Pool } from '@ndx/service-kit';
import { compileBundle, type CompiledPolicy } from './policy-compiler.ts';
import { ACTIVATION_CHANNEL, activeVersion, loadBundle } from './policy-store.ts';

/** No version is active (or it could not be loaded): decisions cannot be made. */
export class NoActivePolicyError extends NdxError {
  constructor() {
    super('NO_ACTIVE_POLICY', 'no policy version is active', 503);
  }
}

export interface PolicyRuntime {
  /** The compiled active version; throws NoActivePolicyError when there is none. */
  active(): CompiledPolicy;
  activeVersion(): number | null;
  /** A compiled version (cached; compiled on first use). Throws NotFoundError or PolicyInvalidError. */
  compiled(version: number): Promise<CompiledPolicy>;
  /** Re-reads the active version from the database and swaps to it if it changed. */
  refresh(): Promise<void>;
  /** Calls listener (synchronously) each time the active version changes in this process. */
  onActivated(listener: (version: number) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const CACHE_SIZE = 16;

/**
 * Keeps the active version compiled in memory and follows activations made by any PDP process:
 * LISTEN on the activation channel, plus a cheap version check every refreshMs in case a
 * notification was missed (e.g. the listening connection dropped).
 */
export function createPolicyRuntime(options: {
  pool: Pool;
  databaseUrl: string;
  logger: Logger;
  refreshMs: number;
}): PolicyRuntime {
  const { pool, logger } = options;
  const cache = new Map<number, CompiledPolicy>();
  let current: CompiledPolicy | undefined;
  let refreshing: Promise<void> = Promise.resolve();
  let listener: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const listeners: ((version: number) => void)[] = [];

  /** Compilations in progress: concurrent callers of one version share one (each blocks the event loop). */
  const compiling = new Map<number, Promise<CompiledPolicy>>();

  const compiled = async (version: number): Promise<CompiledPolicy> => {
    const hit = cache.get(version);
    if (hit) {
      cache.delete(version);
      cache.set(version, hit);
      return hit;
    }
    let pending = compiling.get(version);
    if (!pending) {
      pending = compile(version).finally(() => compiling.delete(version));
      compiling.set(version, pending);
    }
    return pending;
  };

  const compile = async (version: number): Promise<CompiledPolicy> => {
    const bundle = await loadBundle(pool, version);
    if (!bundle) throw new NotFoundError(`policy version ${version} does not exist`);
    const started = performance.now();
    const result = compileBundle(bundle);
    logger.info({ version, ms: Math.round(performance.now() - started) }, 'policy version compiled');
    cache.set(version, result);
    while (cache.size > CACHE_SIZE) {
      const oldest = cache.keys().next().value as number;
      if (oldest === current?.version) {
        cache.delete(oldest);
        cache.set(oldest, current);
      } else cache.delete(oldest);
    }
    return result;
  };

  const refreshOnce = async (): Promise<void> => {
    const version = await activeVersion(pool);
    if (version === null || version === current?.version) return;
    const next = await compiled(version);
    const previous = current?.version ?? null;
    current = next;
    logger.info({ version, previous }, 'policy version active');
    for (const listener of listeners) listener(version);
  };

  const refresh = (): Promise<void> => {
    refreshing = refreshing.then(refreshOnce, refreshOnce);
    return refreshing;
  };

  const listen = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'pdp-listener' });
    client.on('notification', () => {
      refresh().catch((err: unknown) => logger.error({ err }, 'could not load the activated policy version'));
    });
    client.on('error', (err) => {
      logger.warn({ err: err.message }, 'policy activation listener failed; will reconnect');
      if (listener === client) listener = undefined;
      client.end().catch(() => undefined);
    });
    await client.connect();
    await client.query(`LISTEN ${ACTIVATION_CHANNEL}`);
    listener = client;
  };

  const tick = async (): Promise<void> => {
    if (stopped) return;
    if (!listener)
      await listen().catch((err: unknown) => logger.warn({ err }, 'could not listen for activations'));
    await refresh().catch((err: unknown) => logger.error({ err }, 'policy refresh failed'));
  };

  return {
    active() {
      if (!current) throw new NoActivePolicyError();
      return current;
    },
    activeVersion: () => current?.version ?? null,
    compiled,
    refresh,
    onActivated: (listener) => void listeners.push(listener),
    async start() {
      await listen();
      await refresh();
      timer = setInterval(() => void tick(), options.refreshMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      const client = listener;
      listener = undefined;
      await client?.end().catch(() => undefined);
    },
  };
}
