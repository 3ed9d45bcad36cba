import { resolve } from 'node:path';
import { prebuildBundles, services } from '@ndx/stack';

/**
 * Builds the services' bundles (ndx/stack's bundles.ts) once, before any test: otherwise the first two stacks,
 * starting side by side, would each build all of them.
 */
export default async function setup(): Promise<void> {
  const started = performance.now();
  await prebuildBundles(resolve(import.meta.dirname, '..', '..'), services, (why) => console.warn(why));
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 1) console.warn(`test: service bundles built in ${seconds.toFixed(1)} s`);
}
