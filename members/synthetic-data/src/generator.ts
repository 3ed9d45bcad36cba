import {
  districts,
  districtWeights,
  femaleGivenNames,
  maleGivenNames,
  professions,
  streets,
  surnames,
  vehicleModels,
  type District,
} from './catalogues.ts';
import { demoSyntheticCitizens } from './demo-records.ts';
import {
  civilFromDays,
  dateFromDayOfYear,
  daysFromCivil,
  daysInYear,
  decodeNic,
  encodeNic,
  type Sex,
} from './nic.ts';
import { createPrng, type Prng } from './prng.ts';
import type { BirthRecord, PersonRecord, SyntheticCitizen, VehicleRecord } from './records.ts';

/** The seed of the registries that init.sh loads. */
export const DEFAULT_SEED = 'farajaland-2026';
export const DEFAULT_CITIZENS = 100_000;
/** Ages and registration dates are computed as of this date, never "today", so output never drifts. */
export const REFERENCE_DATE = '2026-01-01';

export interface GeneratorOptions {
  seed?: string;
  /** How many citizens, demo citizens included (they come first). */
  citizens?: number;
}

/** Rates of the real-world imperfections (also asserted by the tests). */
export const imperfections = {
  /** Share of generated citizens that DRP does not know. */
  missingFromDrp: 0.03,
  /** Share of DRP records whose name is spelled differently from the birth record. */
  drpNameSpellingDiffers: 0.02,
} as const;

const REFERENCE_YEAR = Number(REFERENCE_DATE.slice(0, 4));
const REFERENCE_DAY = daysFromCivil(REFERENCE_DATE);
const weightedDistricts = districts.map((d, i) => [d, districtWeights[i]!] as const);
const weightedModels = vehicleModels.map((m) => [m, m.weight] as const);
const MAX_AGE = 91;
const MAX_TRIES = 1_000;

/** Identifiers already handed out; every registry key stays unique across the whole run. */
class IssuedIdentifiers {
  /** NICs in their new-format form, so an old NIC and its new form count as one. */
  readonly nics = new Set<string>();
  readonly registrationNumbers = new Set<string>();
  readonly birthRegistrationNumbers = new Set<string>();
  readonly birthCounters = new Map<string, number>();

  claimNic(nic: string): boolean {
    const key = decodeNic(nic)?.asNewFormat;
    if (!key) throw new Error(`generated NIC ${nic} does not decode`);
    if (this.nics.has(key)) return false;
    this.nics.add(key);
    return true;
  }
}

/**
 * Yields the citizens of Farajaland in a fixed order: the demo citizens first, then generated
 * ones. The output depends only on seed and index (and on the identifiers issued before), so the
 * same options give the same citizens on every run and machine, and a smaller count is a prefix
 * of a larger one. Streams: nothing is kept but the sets of issued identifiers.
 */
export function* generateCitizens(options: GeneratorOptions = {}): Generator<SyntheticCitizen> {
  const seed = options.seed ?? DEFAULT_SEED;
  const count = options.citizens ?? DEFAULT_CITIZENS;
  if (!Number.isInteger(count) || count < 0) throw new Error(`citizens must be a whole number, got ${count}`);
  const issued = new IssuedIdentifiers();
  const demos = demoSyntheticCitizens();
  for (const demo of demos) {
    for (const nic of [demo.birth.nic, demo.birth.fatherNic, demo.birth.motherNic]) {
      if (nic && !issued.claimNic(nic)) throw new Error(`demo NIC ${nic} is used twice`);
    }
    issued.birthRegistrationNumbers.add(demo.birth.birthRegistrationNumber);
    for (const v of demo.vehicles) issued.registrationNumbers.add(v.registrationNumber);
  }
  for (let index = 0; index < count; index++) {
    yield index < demos.length ? demos[index]! : generateCitizen(seed, index, issued);
  }
}

function generateCitizen(seed: string, index: number, issued: IssuedIdentifiers): SyntheticCitizen {
  const rng = createPrng(`${seed}:${index}`);
  const sex: Sex = rng.chance(0.5) ? 'FEMALE' : 'MALE';
  // Ages 0..MAX_AGE, fewer with every year (a population pyramid); sqrt is exact in IEEE 754.
  const age = Math.min(MAX_AGE, Math.floor((MAX_AGE + 1) * (1 - Math.sqrt(rng.next()))));
  const birthYear = REFERENCE_YEAR - 1 - age;
  const dateOfBirth = dateFromDayOfYear(birthYear, rng.int(1, daysInYear(birthYear)));
  const oldFormatShare = birthYear < 1990 ? 0.85 : birthYear < 2000 ? 0.5 : 0;
  const nic = issueNic(rng, issued, dateOfBirth, sex, rng.chance(oldFormatShare) ? 'old' : 'new');

  const surname = rng.pick(surnames);
  const givenNames = sex === 'FEMALE' ? femaleGivenNames : maleGivenNames;
  const given = rng.pick(givenNames);
  const middle = rng.chance(0.15) ? otherThan(rng, givenNames, given) : null;
  const fullName = [given, middle, surname].filter(Boolean).join(' ');

  const district = rng.weighted(weightedDistricts);
  const division = rng.pick(district.divisions);
  const place = rng.weighted([
    [`${district.name} District Hospital`, 55],
    [`${division} Rural Health Centre`, 25],
    [`${division} Health Post`, 12],
    [`${division} (home birth)`, 8],
  ] as const);
  const homeBirth = place.endsWith('(home birth)');

  const father = rng.chance(0.92) ? parent(rng, issued, dateOfBirth, 'MALE', surname) : null;
  const mother = rng.chance(0.99)
    ? parent(rng, issued, dateOfBirth, 'FEMALE', rng.chance(0.75) ? surname : rng.pick(surnames))
    : null;
  const registeredOn = registrationDate(rng, dateOfBirth, homeBirth);

  const birth: BirthRecord = {
    birthRegistrationNumber: issueBirthRegistrationNumber(issued, district, registeredOn),
    nic,
    fullName,
    dateOfBirth,
    birthPlace: place,
    district: district.name,
    division,
    sex,
    fatherName: father?.name ?? null,
    fatherNic: father?.nic ?? null,
    motherName: mother?.name ?? null,
    motherNic: mother?.nic ?? null,
    registeredOn,
  };
  return {
    index,
    birth,
    person: drpPerson(rng, birth, age, givenNames),
    vehicles: age >= 18 ? vehiclesOf(rng, issued, nic) : [],
  };
}

function issueNic(
  rng: Prng,
  issued: IssuedIdentifiers,
  dateOfBirth: string,
  sex: Sex,
  format: 'old' | 'new',
): string {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const nic = encodeNic({
      format,
      dateOfBirth,
      sex,
      serial: format === 'old' ? rng.int(0, 999) : rng.int(0, 9999),
      checkDigit: rng.int(0, 9),
      letter: rng.chance(0.03) ? 'X' : 'V',
    });
    if (issued.claimNic(nic)) return nic;
  }
  throw new Error(`no free NIC serial for ${dateOfBirth} ${sex} after ${MAX_TRIES} tries`);
}

function parent(
  rng: Prng,
  issued: IssuedIdentifiers,
  childBirth: string,
  sex: Sex,
  surname: string,
): { name: string; nic: string | null } {
  const ageAtBirth = sex === 'FEMALE' ? rng.int(17, 42) : rng.int(20, 50);
  const year = Number(childBirth.slice(0, 4)) - ageAtBirth;
  const dateOfBirth = dateFromDayOfYear(year, rng.int(1, daysInYear(year)));
  const format = year < 2000 && rng.chance(year < 1990 ? 0.8 : 0.5) ? 'old' : 'new';
  const given = rng.pick(sex === 'FEMALE' ? femaleGivenNames : maleGivenNames);
  // Parents born before NICs were issued (before 1920) are recorded by name only.
  const nic = year < 1920 ? null : issueNic(rng, issued, dateOfBirth, sex, format);
  return { name: `${given} ${surname}`, nic };
}

function registrationDate(rng: Prng, dateOfBirth: string, homeBirth: boolean): string {
  const late = rng.chance(homeBirth ? 0.25 : 0.03);
  const delayDays = late ? rng.int(366, 365 * 8) : rng.chance(0.9) ? rng.int(3, 60) : rng.int(61, 365);
  const birth = daysFromCivil(dateOfBirth);
  const lastPossible = REFERENCE_DAY - 1;
  return civilFromDays(Math.max(birth, Math.min(birth + delayDays, lastPossible)));
}

function issueBirthRegistrationNumber(
  issued: IssuedIdentifiers,
  district: District,
  registeredOn: string,
): string {
  const prefix = `${district.code}-${registeredOn.slice(0, 4)}`;
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const next = (issued.birthCounters.get(prefix) ?? 0) + 1;
    issued.birthCounters.set(prefix, next);
    const number = `${prefix}-${String(next).padStart(6, '0')}`;
    if (!issued.birthRegistrationNumbers.has(number)) {
      issued.birthRegistrationNumbers.add(number);
      return number;
    }
  }
  throw new Error(`no free birth registration number for ${prefix}`);
}

function drpPerson(
  rng: Prng,
  birth: BirthRecord,
  age: number,
  givenNames: readonly string[],
): PersonRecord | null {
  if (rng.chance(imperfections.missingFromDrp)) return null;
  const fullName = rng.chance(imperfections.drpNameSpellingDiffers)
    ? misspell(rng, birth.fullName)
    : birth.fullName;
  const firstGiven = birth.fullName.split(' ')[0]!;
  const otherNames = rng.chance(0.25) ? otherThan(rng, givenNames, firstGiven) : null;
  const sameDistrict = rng.chance(0.75);
  const district = sameDistrict
    ? districts.find((d) => d.name === birth.district)!
    : rng.weighted(weightedDistricts);
  const division = sameDistrict ? birth.division : rng.pick(district.divisions);
  const dwelling = rng.weighted([
    ['Plot', 5],
    ['House', 4],
    ['Flat', 1],
  ] as const);
  const permanentAddress = `${dwelling} ${rng.int(1, 400)}, ${rng.pick(streets)}, ${division}, ${district.name} District`;
  return {
    nic: birth.nic,
    fullName,
    otherNames,
    permanentAddress,
    profession: professionFor(rng, age),
    sex: birth.sex,
    dateOfBirth: birth.dateOfBirth,
  };
}

function professionFor(rng: Prng, age: number): string | null {
  if (age < 16) return null;
  if (age <= 22 && rng.chance(0.7)) return 'Student';
  if (age >= 63 && rng.chance(0.6)) return 'Retired';
  if (rng.chance(0.08)) return null;
  return rng.weighted(professions);
}

/** Spelling changes seen between registries (a clerk's hearing, not a typo generator). */
const spellingVariants: readonly (readonly [RegExp, string])[] = [
  [/ph/, 'f'],
  [/th/, 't'],
  [/sh/, 's'],
  [/ns/, 'nz'],
  [/ee/, 'e'],
  [/oo/, 'o'],
  [/ie/, 'ei'],
  [/y/, 'i'],
  [/([aeiou])l([aeiou])/, '$1ll$2'],
  [/a$/, 'ah'],
  [/i$/, 'y'],
];

function misspell(rng: Prng, fullName: string): string {
  const parts = fullName.split(' ');
  const order = rng.chance(0.6) ? [parts.length - 1, 0] : [0, parts.length - 1];
  for (const position of order) {
    const word = parts[position]!;
    const applicable = spellingVariants.filter(([pattern]) => pattern.test(word));
    if (applicable.length > 0) {
      const [pattern, replacement] = rng.pick(applicable);
      parts[position] = word.replace(pattern, replacement);
      return parts.join(' ');
    }
  }
  const last = parts.length - 1;
  parts[last] = parts[last]! + parts[last]!.slice(-1);
  return parts.join(' ');
}

function vehiclesOf(rng: Prng, issued: IssuedIdentifiers, ownerNic: string): VehicleRecord[] {
  if (!rng.chance(0.47)) return [];
  const count = rng.weighted([
    [1, 50],
    [2, 25],
    [3, 13],
    [4, 7],
    [5, 2],
    [6, 1.5],
    [7, 1],
    [8, 0.5],
  ] as const);
  const vehicles: VehicleRecord[] = [];
  for (let i = 0; i < count; i++) {
    const model = rng.weighted(weightedModels);
    vehicles.push({
      registrationNumber: issueRegistrationNumber(rng, issued),
      make: model.make,
      model: model.model,
      yearOfManufacture: rng.int(model.firstYear, model.lastYear),
      ownerNic,
      classCodes: model.classCodes,
    });
  }
  return vehicles;
}

const PLATE_LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';

function issueRegistrationNumber(rng: Prng, issued: IssuedIdentifiers): string {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    let letters = '';
    for (let i = 0; i < 3; i++) letters += PLATE_LETTERS[rng.int(0, PLATE_LETTERS.length - 1)];
    const plate = `${letters}-${String(rng.int(0, 9999)).padStart(4, '0')}`;
    if (!issued.registrationNumbers.has(plate)) {
      issued.registrationNumbers.add(plate);
      return plate;
    }
  }
  throw new Error('no free registration number');
}

function otherThan(rng: Prng, names: readonly string[], excluded: string): string {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const name = rng.pick(names);
    if (name !== excluded) return name;
  }
  return excluded;
}
