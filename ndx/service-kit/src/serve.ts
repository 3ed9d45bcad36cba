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

const folder = resolve(process.argv[2] ?? '.');

runMain(basename(folder), async () => {
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as {
    exports?: Record<string, string>;
    version?: string;
  };
  // What GET /health reports as the service's version (http-service.ts), unless the image sets it.
  process.env[SERVICE_VERSION_ENV] ??= manifest.version;
  const entry = manifest.exports?.['.'];
  if (!entry) throw new Error(`${folder}/package.json has no "exports" entry "." (the service's app.ts)`);
  const loaded = (await import(pathToFileURL(join(folder, entry)).href)) as {
    service?: ServiceModule<ServiceBaseConfig>;
  };
  if (!loaded.service) throw new Error(`${entry} exports no \`service\` (defineService(...))`);
  await startService(loaded.service);
});
