#!/usr/bin/env node
/**
 * The one entry point of every NDX service: `node ndx/service-kit/src/serve.ts [service-folder]`
 * (default: the working directory, as in the container image and under ./init.sh). Loads the
 * service's package entry (its app.ts, which exports `service`: name, readConfig, buildApp) and
 * runs it until stopped.
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SERVICE_VERSION_ENV } from './http-service.ts';
import { runMain } from './lifecycle.ts';
import { startService, type ServiceBaseConfig, type ServiceModule } from './run-service.ts';

interface ServicePackage {
  exports?: Record<string, string>;
  version?: string;
}

/** The service folder's package entry (its app.ts), relative to the folder. */
export function serviceEntry(folder: string): string {
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as ServicePackage;
  const entry = manifest.exports?.['.'];
  if (!entry) throw new Error(`${folder}/package.json has no "exports" entry "." (the service's app.ts)`);
  return entry;
}

/**
 * Runs the service in folder from its loaded entry module until stopped. The stack's prebuilt bundle of a
 * service (ndx/stack's bundles.ts) calls this with its entry imported statically; serve.ts imports it itself.
 */
export function serveLoaded(
  folder: string,
  load: () => Promise<{ service?: ServiceModule<ServiceBaseConfig> }>,
): void {
  runMain(basename(folder), async () => {
    const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as ServicePackage;
    // What GET /health reports as the service's version (http-service.ts), unless the image sets it.
    process.env[SERVICE_VERSION_ENV] ??= manifest.version;
    const loaded = await load();
    if (!loaded.service)
      throw new Error(`${serviceEntry(folder)} exports no \`service\` (defineService(...))`);
    await startService(loaded.service);
  });
}

// Run as a script (not when a bundle imports serveLoaded from here).
if (import.meta.main) {
  const folder = resolve(process.argv[2] ?? '.');
  serveLoaded(folder, () => import(pathToFileURL(join(folder, serviceEntry(folder))).href));
}
