import type { SeedAccount } from '@ndx/stack-wiring';
import { demoCitizens } from '@ndx/synthetic-data';

/**
 * The stack's seed citizen accounts: the documented demo citizens (docs/demo-citizens.md), handed to
 * the identity provider through its wiring so that its own code knows nothing of member data.
 */
export const seedAccounts: readonly SeedAccount[] = demoCitizens.map((citizen) => ({
  nic: citizen.nic,
  name: citizen.birthName,
  password: citizen.password,
  ...(citizen.totpSecret ? { totpSecret: citizen.totpSecret } : {}),
}));
