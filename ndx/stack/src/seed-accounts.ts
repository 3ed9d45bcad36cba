import type { SeedAccount } from '@ndx/stack-wiring';
import { demoCitizens } from '@ndx/synthetic-data';

/** The role FUDI releases for a DIE passport officer; the passport app treats it as the officer role. */
export const DIE_OFFICER_ROLE = 'die-officer';

/**
 * The demo DIE officers (docs/demo-citizens.md): FUDI accounts with the officer role, so that the
 * passport app can be tried as an officer. Their passwords are public demo fixtures, like the demo
 * citizens'; a real deployment gives the role to real accounts with the FUDI CLI (`set-citizen --role`).
 */
export const demoOfficers: readonly SeedAccount[] = [
  { nic: '198220399017', name: 'Mutale Kabwe', password: 'mutale-officer-2026', roles: [DIE_OFFICER_ROLE] },
  { nic: '199171899026', name: 'Naomi Tembo', password: 'naomi-officer-2026', roles: [DIE_OFFICER_ROLE] },
];

/**
 * The stack's seed accounts: the documented demo citizens and demo officers (docs/demo-citizens.md),
 * handed to the identity provider through its wiring so that its own code knows nothing of member data.
 */
export const seedAccounts: readonly SeedAccount[] = [
  ...demoCitizens.map((citizen) => ({
    nic: citizen.nic,
    name: citizen.birthName,
    password: citizen.password,
    ...(citizen.totpSecret ? { totpSecret: citizen.totpSecret } : {}),
  })),
  ...demoOfficers,
];
