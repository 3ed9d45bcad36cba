import type { Pool } from '@ndx/service-kit';

/** A birth record in the shape of the GraphQL type PersonData (dates as YYYY-MM-DD). */
export interface PersonData {
  nic: string;
  birthRegistrationNumber: string;
  fullName: string;
  dateOfBirth: string;
  birthPlace: string;
  district: string;
  division: string;
  sex: string;
  fatherName: string | null;
  fatherNic: string | null;
  motherName: string | null;
  motherNic: string | null;
  registeredOn: string;
}

/** The birth record of the person with this NIC, or null. */
export async function findBirthRecordByNic(pool: Pool, nic: string): Promise<PersonData | null> {
  // A named (prepared) statement: parsed and planned once per connection, not on every lookup.
  const { rows } = await pool.query<PersonData>({
    name: 'rgd-birth-record-by-nic',
    text: `SELECT nic,
            birth_registration_number AS "birthRegistrationNumber",
            full_name AS "fullName",
            to_char(date_of_birth, 'YYYY-MM-DD') AS "dateOfBirth",
            birth_place AS "birthPlace",
            district,
            division,
            sex,
            father_name AS "fatherName",
            father_nic AS "fatherNic",
            mother_name AS "motherName",
            mother_nic AS "motherNic",
            to_char(registered_on, 'YYYY-MM-DD') AS "registeredOn"
       FROM birth_records
      WHERE nic = $1`,
    values: [nic],
  });
  return rows[0] ?? null;
}
