import { join } from 'node:path';
import { runSeedScript } from '@ndx/synthetic-data/seeding';

/**
 * Prepare script (run by ./init.sh before the service starts): migrates the database, then loads
 * the synthetic DMT vehicle register once. Env: DATABASE_URL, SEED_CITIZENS (default 100000), SYNTHETIC_SEED.
 */
runSeedScript({
  service: 'dmt-soap-api',
  registry: 'dmt',
  migrationsDir: join(import.meta.dirname, '..', 'migrations'),
});
