import { join } from 'node:path';
import { runSeedScript } from '@ndx/synthetic-data/seeding';

/**
 * Prepare script (run by ./init.sh before the service starts): migrates the database, then loads
 * the synthetic DRP person register once. Env: DATABASE_URL, SEED_CITIZENS (default 100000), SYNTHETIC_SEED.
 */
runSeedScript({
  service: 'drp-api',
  registry: 'drp',
  migrationsDir: join(import.meta.dirname, '..', 'migrations'),
});
