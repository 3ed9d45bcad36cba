import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { policiesDir } from './policy-compiler.ts';
import type { FieldRef } from '@ndx/contract';
import type { BundleContent, Classification, Consumer, FieldMetadata, Grant } from './policy-model.ts';

/** The Farajaland seed: field metadata of every RGD, DRP and DMT field, two consumers and their grants. */

const RGD = { providerKey: 'rgd', schemaId: 'abc-212' };
const DRP = { providerKey: 'drp', schemaId: 'drp-schema-v1' };
const DMT = { providerKey: 'dmt', schemaId: 'dmt-schema-v1' };

type Row = [
  path: string,
  displayName: string,
  description: string,
  classification: Classification,
  consentRequired: boolean,
];

const rgdFields: Row[] = [
  ['getPersonInfo.nic', 'National identity card number', "The citizen's NIC", 'confidential', true],
  [
    'getPersonInfo.birthRegistrationNumber',
    'Birth registration number',
    'Number of the birth registration',
    'confidential',
    true,
  ],
  ['getPersonInfo.fullName', 'Name at birth', 'Full name as registered at birth', 'confidential', true],
  ['getPersonInfo.dateOfBirth', 'Date of birth', 'Date of birth as registered', 'confidential', true],
  ['getPersonInfo.birthPlace', 'Place of birth', 'Place of birth as registered', 'confidential', true],
  [
    'getPersonInfo.district',
    'District of birth',
    'District where the birth was registered',
    'confidential',
    true,
  ],
  [
    'getPersonInfo.division',
    'Division of birth',
    'Divisional secretariat where the birth was registered',
    'confidential',
    true,
  ],
  ['getPersonInfo.sex', 'Sex', 'Sex as registered at birth', 'confidential', true],
  ['getPersonInfo.fatherName', "Father's name", "Father's full name on the birth record", 'restricted', true],
  ['getPersonInfo.fatherNic', "Father's NIC", "Father's NIC on the birth record", 'restricted', true],
  ['getPersonInfo.motherName', "Mother's name", "Mother's full name on the birth record", 'restricted', true],
  ['getPersonInfo.motherNic', "Mother's NIC", "Mother's NIC on the birth record", 'restricted', true],
  ['getPersonInfo.registeredOn', 'Registration date', 'Date the birth was registered', 'confidential', true],
];

const drpFields: Row[] = [
  ['person.nic', 'National identity card number', "The citizen's NIC", 'confidential', true],
  ['person.fullName', 'Full name', 'Full name in the person registry', 'confidential', true],
  ['person.otherNames', 'Other names', 'Other names the person is known by', 'confidential', true],
  ['person.permanentAddress', 'Permanent address', 'Permanent residential address', 'restricted', true],
  ['person.profession', 'Profession', 'Declared profession', 'confidential', true],
];

const vehicleLeaves: [string, string][] = [
  ['registrationNumber', 'Registration number'],
  ['make', 'Make'],
  ['model', 'Model'],
  ['yearOfManufacture', 'Year of manufacture'],
  ['classes.className', 'Vehicle class name'],
  ['classes.classCode', 'Vehicle class code'],
];

const dmtFields: Row[] = [
  // A vehicle looked up by its registration number: registry data, not about a citizen.
  ...vehicleLeaves.map(([leaf, label]): Row => [
    `vehicle.${leaf}`,
    label,
    `${label} of a registered vehicle`,
    'internal',
    false,
  ]),
  // Vehicles listed by owner: says what a citizen owns, so it is the citizen's personal data.
  ...vehicleLeaves.map(([leaf, label]): Row => [
    `vehiclesByOwner.${leaf}`,
    `${label} (vehicles of a citizen)`,
    `${label} of a vehicle the citizen owns`,
    'confidential',
    true,
  ]),
  ['vehicleClasses.className', 'Vehicle class name', 'Public catalogue of vehicle classes', 'public', false],
  ['vehicleClasses.classCode', 'Vehicle class code', 'Public catalogue of vehicle classes', 'public', false],
];

function metadata(provider: { providerKey: string; schemaId: string }, rows: Row[]): FieldMetadata[] {
  return rows.map(([field, displayName, description, classification, consentRequired]) => ({
    ...provider,
    field,
    displayName,
    description,
    classification,
    owner: provider.providerKey,
    consentRequired,
  }));
}

export const seedFields: FieldMetadata[] = [
  ...metadata(RGD, rgdFields),
  ...metadata(DRP, drpFields),
  ...metadata(DMT, dmtFields),
];

export const seedConsumers: Consumer[] = [
  {
    consumerId: 'passport-app',
    displayName: 'DIE passport application',
    member: 'die',
    purposes: ['passport-application'],
    defaultPurpose: 'passport-application',
  },
  {
    consumerId: 'traffic-police-app',
    displayName: 'DMT traffic police',
    member: 'dmt',
    purposes: ['traffic-enforcement'],
    defaultPurpose: 'traffic-enforcement',
  },
];

const refs = (provider: { providerKey: string; schemaId: string }, paths: string[]): FieldRef[] =>
  paths.map((field) => ({ ...provider, field }));

/** What a passport application needs: the birth record and the person record (not the parents' NICs). */
const passportFields: FieldRef[] = [
  ...refs(
    RGD,
    rgdFields
      .map((r) => r[0])
      .filter((p) => p !== 'getPersonInfo.fatherNic' && p !== 'getPersonInfo.motherNic'),
  ),
  ...refs(
    DRP,
    drpFields.map((r) => r[0]),
  ),
];

export const seedGrants: Grant[] = [
  {
    consumerId: 'passport-app',
    purpose: 'passport-application',
    fields: passportFields,
    legalBasis: 'consent',
    expiresAt: '2030-12-31T23:59:59Z',
    window: null,
  },
  {
    consumerId: 'traffic-police-app',
    purpose: 'traffic-enforcement',
    fields: refs(
      DMT,
      dmtFields.map((r) => r[0]),
    ),
    legalBasis: 'legal-obligation',
    expiresAt: '2030-12-31T23:59:59Z',
    window: { start: 6 * 60, end: 22 * 60 },
  },
];

/** The seed policies (policies/farajaland.cedar). */
export const seedPolicies = readFileSync(join(policiesDir, 'farajaland.cedar'), 'utf8');

export const farajalandSeed: BundleContent = {
  policies: seedPolicies,
  fields: seedFields,
  consumers: seedConsumers,
  grants: seedGrants,
};
