import { join } from 'node:path';
import { runSeedScript } from '@ndx/synthetic-data/seeding';

/**
 * Prepare script (run by ./init.sh before the service starts): migrates the database, then loads
 * the synthetic RGD birth register once. Env: DATABASE_URL, SEED_CITIZENS (default 100000), SYNTHETIC_SEED.
 */
runSeedScript({
  service: 'rgd-api',
  registry: 'rgd',
  migrationsDir: join(import.meta.dirname, '..', 'migrations'),
});
