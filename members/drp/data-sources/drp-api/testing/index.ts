import pg from 'pg';

/** A person row as the legacy API answers it. */
export type { LegacyPerson } from '../src/person-routes.ts';

/** Person rows the DRP tests insert themselves (the seeded data is another engineer's). */
export const fixturePersons = [
  {
    nic: '199560201234',
    full_name: 'Amara Chanda',
    other_names: 'Amy',
    permanent_address: '12 Lake Road, Ilanga',
    profession: 'Engineer',
    sex: 'FEMALE',
    date_of_birth: '1995-04-12',
  },
  {
    nic: '852321234V',
    full_name: 'Bwalya Mwansa',
    other_names: null,
    permanent_address: '4 Market Street, Isamba',
    profession: null,
    sex: 'MALE',
    date_of_birth: '1985-08-20',
  },
] as const;

export async function insertFixturePersons(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const p of fixturePersons) {
      await client.query(
        `INSERT INTO persons (nic, full_name, other_names, permanent_address, profession, sex, date_of_birth)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [p.nic, p.full_name, p.other_names, p.permanent_address, p.profession, p.sex, p.date_of_birth],
      );
    }
  } finally {
    await client.end();
  }
}
