import pg from 'pg';

/** Rows the DMT tests insert themselves (the seeded data is another engineer's). */
export const fixtureClasses = [
  { code: 'A', name: 'Motorcycle' },
  { code: 'B', name: 'Light motor vehicle (up to 3,500 kg)' },
  { code: 'D', name: 'Bus (more than 16 passengers)' },
] as const;

export const fixtureVehicles = [
  { reg: 'CAB-1234', make: 'Toyota', model: 'Corolla', year: 2015, owner: '199560201234', classes: ['B'] },
  {
    reg: 'BUS-3310',
    make: 'Ashok Leyland',
    model: 'Viking',
    year: 2009,
    owner: '783345678V',
    classes: ['B', 'D'],
  },
  { reg: 'KAF-0987', make: 'Honda', model: 'CB125', year: 2019, owner: '783345678V', classes: ['A'] },
  { reg: 'NDA-4521', make: 'Toyota', model: 'Hilux', year: 2021, owner: '783345678V', classes: [] },
] as const;

export async function insertFixtureVehicles(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const c of fixtureClasses) {
      await client.query('INSERT INTO vehicle_classes (class_code, class_name) VALUES ($1, $2)', [
        c.code,
        c.name,
      ]);
    }
    for (const v of fixtureVehicles) {
      await client.query(
        `INSERT INTO vehicles (registration_number, make, model, year_of_manufacture, owner_nic)
         VALUES ($1, $2, $3, $4, $5)`,
        [v.reg, v.make, v.model, v.year, v.owner],
      );
      for (const code of v.classes) {
        await client.query(
          'INSERT INTO vehicle_class_assignments (registration_number, class_code) VALUES ($1, $2)',
          [v.reg, code],
        );
      }
    }
  } finally {
    await client.end();
  }
}

/** The WS-Security UsernameToken credentials the DMT tests configure on both sides. */
export const testSoapCredentials = {
  username: 'ndx-dmt-adapter',
  password: 'test-dmt-soap-password-0123456789',
} as const;
