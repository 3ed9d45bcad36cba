import { demoCitizens, type DemoCitizen } from './demo-citizens.ts';
import { encodeNic } from './nic.ts';
import type { BirthRecord, PersonRecord, SyntheticCitizen, VehicleRecord } from './records.ts';

/**
 * The full registry records of the demo citizens (docs/demo-citizens.md): fixed by hand, not
 * drawn from the generator, so that docs and end-to-end tests can name them.
 */

interface DemoDetails {
  birthRegistrationNumber: string;
  birthPlace: string;
  district: string;
  division: string;
  father: { name: string; nic: string } | null;
  mother: { name: string; nic: string } | null;
  registeredOn: string;
  otherNames: string | null;
  permanentAddress: string;
  profession: string | null;
}

const details: Record<string, DemoDetails> = {
  // Amara Chanda
  '199560201234': {
    birthRegistrationNumber: 'IBO-1995-004821',
    birthPlace: 'Ibombo District Hospital',
    district: 'Ibombo',
    division: 'Ibombo Central',
    father: { name: 'Joseph Chanda', nic: oldNic('1966-03-02', 'MALE', 412, 7) },
    mother: { name: 'Grace Chanda', nic: oldNic('1970-09-14', 'FEMALE', 208, 3) },
    registeredOn: '1995-04-20',
    otherNames: 'Natasha',
    permanentAddress: 'Plot 14, Independence Avenue, Ibombo Central, Ibombo District',
    profession: 'Teacher',
  },
  // Bwalya Mwansa
  '852321234V': {
    birthRegistrationNumber: 'ISA-1985-001377',
    birthPlace: 'Isamba District Hospital',
    district: 'Isamba',
    division: 'Kalembe',
    father: { name: 'Peter Mwansa', nic: oldNic('1958-01-11', 'MALE', 731, 2) },
    mother: { name: 'Ruth Mwansa', nic: oldNic('1960-07-03', 'FEMALE', 95, 6) },
    registeredOn: '1985-09-02',
    otherNames: null,
    permanentAddress: 'House 7, Church Road, Kalembe, Isamba District',
    profession: 'Mechanic',
  },
  // Chipo Zulu
  '200150500789': {
    birthRegistrationNumber: 'IBO-2001-000312',
    birthPlace: 'Chikobo Rural Health Centre',
    district: 'Ibombo',
    division: 'Chikobo',
    father: { name: 'Moses Zulu', nic: oldNic('1975-12-01', 'MALE', 566, 1) },
    mother: { name: 'Mercy Zulu', nic: oldNic('1978-02-22', 'FEMALE', 340, 9) },
    registeredOn: '2001-01-19',
    otherNames: null,
    permanentAddress: 'Flat 3B, Cairo Road, Ibombo Central, Ibombo District',
    profession: 'Software developer',
  },
  // Daliso Phiri
  '783345678V': {
    birthRegistrationNumber: 'ILA-1978-000877',
    birthPlace: 'Ilanga District Hospital',
    district: 'Ilanga',
    division: 'Mumbwa',
    father: { name: 'John Phiri', nic: oldNic('1950-04-18', 'MALE', 127, 4) },
    mother: { name: 'Agnes Phiri', nic: oldNic('1953-10-09', 'FEMALE', 683, 0) },
    registeredOn: '1978-12-12',
    otherNames: 'Kondwani',
    permanentAddress: 'Plot 221, Great North Road, Mumbwa, Ilanga District',
    profession: 'Driver',
  },
  // Esther Banda
  '199066604567': {
    birthRegistrationNumber: 'EZH-1990-000654',
    birthPlace: 'Ezhi District Hospital',
    district: 'Ezhi',
    division: 'Ezhi Central',
    father: { name: 'Henry Banda', nic: oldNic('1962-08-27', 'MALE', 350, 5) },
    mother: { name: 'Florence Banda', nic: oldNic('1964-05-30', 'FEMALE', 811, 8) },
    registeredOn: '1990-06-30',
    otherNames: null,
    permanentAddress: 'House 45, Market Street, Ezhi Central, Ezhi District',
    profession: 'Nurse',
  },
  // Faith Mulenga: home birth, father not recorded, registered late; not at DRP.
  '200360207777': {
    birthRegistrationNumber: 'EZH-2004-000219',
    birthPlace: 'Kafuwe (home birth)',
    district: 'Ezhi',
    division: 'Kafuwe',
    father: null,
    mother: {
      name: 'Beatrice Mulenga',
      nic: encodeNic({
        format: 'new',
        dateOfBirth: '1984-11-19',
        sex: 'FEMALE',
        serial: 2291,
        checkDigit: 3,
      }),
    },
    registeredOn: '2004-02-03',
    otherNames: null,
    permanentAddress: 'Kafuwe Village, Kafuwe, Ezhi District',
    profession: null,
  },
};

/** The demo citizens' vehicles at DMT, by registration number. */
export const demoVehicles: Record<string, Omit<VehicleRecord, 'ownerNic' | 'registrationNumber'>> = {
  'CAB-1234': { make: 'Toyota', model: 'Vitz', yearOfManufacture: 2016, classCodes: ['B'] },
  'NDA-4521': { make: 'Toyota', model: 'Hilux', yearOfManufacture: 2014, classCodes: ['B'] },
  'KAF-0987': { make: 'Honda', model: 'CG125', yearOfManufacture: 2019, classCodes: ['A1'] },
  'BUS-3310': { make: 'Toyota', model: 'Coaster', yearOfManufacture: 2009, classCodes: ['D'] },
};

/** The demo citizens as registry records, in the order of demo-citizens.ts. */
export function demoSyntheticCitizens(): SyntheticCitizen[] {
  return demoCitizens.map((citizen, index) => toSynthetic(citizen, index));
}

function toSynthetic(citizen: DemoCitizen, index: number): SyntheticCitizen {
  const d = details[citizen.nic];
  if (!d) throw new Error(`demo citizen ${citizen.nic} has no registry details in demo-records.ts`);
  const birth: BirthRecord = {
    birthRegistrationNumber: d.birthRegistrationNumber,
    nic: citizen.nic,
    fullName: citizen.birthName,
    dateOfBirth: citizen.dateOfBirth,
    birthPlace: d.birthPlace,
    district: d.district,
    division: d.division,
    sex: citizen.sex,
    fatherName: d.father?.name ?? null,
    fatherNic: d.father?.nic ?? null,
    motherName: d.mother?.name ?? null,
    motherNic: d.mother?.nic ?? null,
    registeredOn: d.registeredOn,
  };
  const person: PersonRecord | null =
    citizen.drpFullName === null
      ? null
      : {
          nic: citizen.nic,
          fullName: citizen.drpFullName,
          otherNames: d.otherNames,
          permanentAddress: d.permanentAddress,
          profession: d.profession,
          sex: citizen.sex,
          dateOfBirth: citizen.dateOfBirth,
        };
  const vehicles = citizen.vehicles.map((registrationNumber): VehicleRecord => {
    const v = demoVehicles[registrationNumber];
    if (!v) throw new Error(`demo vehicle ${registrationNumber} has no details in demo-records.ts`);
    return { registrationNumber, ownerNic: citizen.nic, ...v };
  });
  return { index, birth, person, vehicles };
}

function oldNic(dateOfBirth: string, sex: 'MALE' | 'FEMALE', serial: number, checkDigit: number): string {
  return encodeNic({ format: 'old', dateOfBirth, sex, serial, checkDigit });
}
