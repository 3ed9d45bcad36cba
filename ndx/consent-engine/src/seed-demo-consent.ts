// Prepare step of the local stack (./init.sh): gives one demo citizen an active consent, so that the
// example query printed by init.sh returns a merged record straight away. Off unless CONSENT_DEMO_CITIZEN is
// set (only the local stack's wiring sets it). Idempotent: an existing covering consent is left alone.
import { NIC_FORMAT, parseNic } from '@ndx/contract';
import { createLogger, createPool, migrate, runMain } from '@ndx/service-kit';
import { migrationsDir } from './app.ts';
import { readConfig } from './config.ts';
import { createConsentStore } from './store-from-config.ts';

/** The provider fields behind the passport query (see docs/consumer-guide.md). */
const passportFields = [
  ['rgd', 'abc-212', 'getPersonInfo.fullName', 'Name at birth'],
  ['rgd', 'abc-212', 'getPersonInfo.dateOfBirth', 'Date of birth'],
  ['rgd', 'abc-212', 'getPersonInfo.sex', 'Sex'],
  ['rgd', 'abc-212', 'getPersonInfo.birthRegistrationNumber', 'Birth registration number'],
  ['rgd', 'abc-212', 'getPersonInfo.birthPlace', 'Place of birth'],
  ['rgd', 'abc-212', 'getPersonInfo.district', 'District of birth'],
  ['drp', 'drp-schema-v1', 'person.fullName', 'Full name'],
  ['drp', 'drp-schema-v1', 'person.otherNames', 'Other names'],
  ['drp', 'drp-schema-v1', 'person.permanentAddress', 'Permanent address'],
  ['drp', 'drp-schema-v1', 'person.profession', 'Profession'],
].map(([providerKey, schemaId, field, displayName]) => ({
  providerKey: providerKey!,
  schemaId: schemaId!,
  field: field!,
  displayName: displayName!,
}));

runMain('consent-engine', async () => {
  const config = readConfig();
  if (!process.env.CONSENT_DEMO_CITIZEN) return;
  const citizenId = parseNic(process.env.CONSENT_DEMO_CITIZEN);
  if (!citizenId) throw new Error(`CONSENT_DEMO_CITIZEN is not a NIC: ${NIC_FORMAT}`);
  const logger = createLogger('consent-engine', { level: config.LOG_LEVEL });
  const pool = createPool(config.DATABASE_URL, logger);
  try {
    await migrate(pool, migrationsDir, logger);
    const store = createConsentStore(config, pool);
    const request = {
      citizenId,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: passportFields,
    };
    if ((await store.check(request)).covered) return;
    const { consent } = await store.request(request, { type: 'system', id: 'demo-seed' });
    await store.decide(consent.id, citizenId, { approve: true });
    logger.info({ citizenId, consentId: consent.id }, 'demo consent granted for the passport app');
  } finally {
    await pool.end();
  }
});
