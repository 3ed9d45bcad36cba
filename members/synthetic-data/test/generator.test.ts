import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  REFERENCE_DATE,
  decodeNic,
  demoCitizens,
  encodeNic,
  generateCitizens,
  isNicFormat,
  vehicleClasses,
  districts,
  type SyntheticCitizen,
} from '../src/index.ts';

function registriesHash(citizens: number, seed?: string): string {
  const hash = createHash('sha256');
  for (const c of generateCitizens({ citizens, seed })) hash.update(JSON.stringify(c) + '\n');
  return hash.digest('hex');
}

describe('NIC numbers', () => {
  it('decode to the date of birth and sex that the demo citizens have', () => {
    for (const demo of demoCitizens) {
      const decoded = decodeNic(demo.nic);
      expect(decoded, demo.nic).not.toBeNull();
      expect(decoded!.dateOfBirth).toBe(demo.dateOfBirth);
      expect(decoded!.sex).toBe(demo.sex);
    }
  });

  it('an old NIC and its new form name the same person', () => {
    expect(decodeNic('852321234V')!.asNewFormat).toBe('198523201234');
    expect(
      encodeNic({ format: 'new', dateOfBirth: '1985-08-20', sex: 'MALE', serial: 123, checkDigit: 4 }),
    ).toBe('198523201234');
    expect(
      encodeNic({ format: 'old', dateOfBirth: '1995-04-12', sex: 'FEMALE', serial: 12, checkDigit: 3 }),
    ).toBe('956020123V');
  });

  it('rejects wrong shapes and days that do not exist', () => {
    for (const bad of ['12345678V', '1234567890V', '852321234v', '19956020123', 'abcdefghijkl', '']) {
      expect(isNicFormat(bad), bad).toBe(false);
      expect(decodeNic(bad), bad).toBeNull();
    }
    expect(decodeNic('199540001234')).toBeNull(); // day 400
    expect(decodeNic('199536601234')).toBeNull(); // 1995 has no day 366
    expect(decodeNic('199636601234')!.dateOfBirth).toBe('1996-12-31');
  });
});

describe('the synthetic registries generator', () => {
  it('gives the same registries on every run for the same seed', () => {
    expect(registriesHash(10_000)).toBe(registriesHash(10_000));
  });

  it('gives byte-identical output on every machine (pinned hash of the first 1,000 citizens)', () => {
    // If you change the generator or its catalogues on purpose, update this hash (and say so).
    expect(registriesHash(1_000)).toBe(PINNED_HASH_1000);
  });

  it('gives different registries for a different seed', () => {
    expect(registriesHash(1_000, 'another-seed')).not.toBe(registriesHash(1_000));
  });

  it('a smaller count is a prefix of a larger one (tests seed a prefix of the real data)', () => {
    const small = [...generateCitizens({ citizens: 500 })];
    const large = [...generateCitizens({ citizens: 2_000 })].slice(0, 500);
    expect(small).toEqual(large);
  });

  it('puts the demo citizens first, exactly as demo-citizens.ts describes them', () => {
    const first = [...generateCitizens({ citizens: 10 })];
    demoCitizens.forEach((demo, i) => {
      const c = first[i]!;
      expect(c.birth).toMatchObject({
        nic: demo.nic,
        fullName: demo.birthName,
        dateOfBirth: demo.dateOfBirth,
        sex: demo.sex,
      });
      expect(c.person?.fullName ?? null).toBe(demo.drpFullName);
      expect(c.vehicles.map((v) => v.registrationNumber)).toEqual(demo.vehicles);
      for (const v of c.vehicles) expect(v.ownerNic).toBe(demo.nic);
    });
    expect(first.find((c) => c.birth.fullName === 'Faith Mulenga')!.person).toBeNull();
    expect(first.find((c) => c.birth.fullName === 'Esther Banda')!.person!.fullName).toBe('Ester Banda');
  });

  describe('100,000 citizens', () => {
    const citizens: SyntheticCitizen[] = [...generateCitizens({ citizens: 100_000 })];

    it('has a birth record for every citizen, and DRP and DMT about as many as the issue asks', () => {
      const persons = citizens.filter((c) => c.person).length;
      const vehicles = citizens.reduce((n, c) => n + c.vehicles.length, 0);
      expect(citizens).toHaveLength(100_000);
      expect(persons / 100_000).toBeGreaterThan(0.95); // a few percent missing from DRP
      expect(persons / 100_000).toBeLessThan(0.99);
      expect(vehicles).toBeGreaterThan(55_000);
      expect(vehicles).toBeLessThan(65_000);
    });

    it('most citizens own no vehicle and some own several, all of them adults', () => {
      const none = citizens.filter((c) => c.vehicles.length === 0).length;
      const several = citizens.filter((c) => c.vehicles.length >= 3).length;
      expect(none / citizens.length).toBeGreaterThan(0.6);
      expect(several).toBeGreaterThan(1_000);
      const minorOwners = citizens.filter((c) => c.vehicles.length > 0 && c.birth.dateOfBirth > '2007-12-31');
      expect(minorOwners).toEqual([]);
    });

    it('issues valid, unique NICs in both formats, consistent with date of birth and sex', () => {
      const seen = new Set<string>();
      const problems: string[] = [];
      let old = 0;
      for (const { birth } of citizens) {
        const decoded = decodeNic(birth.nic);
        if (!decoded) problems.push(`${birth.nic} does not decode`);
        else if (decoded.dateOfBirth !== birth.dateOfBirth || decoded.sex !== birth.sex)
          problems.push(`${birth.nic} does not match ${birth.dateOfBirth} ${birth.sex}`);
        else if (seen.has(decoded.asNewFormat)) problems.push(`${birth.nic} issued twice`);
        else {
          seen.add(decoded.asNewFormat);
          if (decoded.format === 'old') old++;
        }
      }
      for (const { birth } of citizens) {
        for (const [nic, sex] of [
          [birth.fatherNic, 'MALE'],
          [birth.motherNic, 'FEMALE'],
        ] as const) {
          if (nic === null) continue;
          const decoded = decodeNic(nic);
          if (!decoded || decoded.sex !== sex) problems.push(`parent NIC ${nic} is not a ${sex} NIC`);
          else if (decoded.dateOfBirth >= birth.dateOfBirth) problems.push(`parent ${nic} born after child`);
          else if (seen.has(decoded.asNewFormat)) problems.push(`parent NIC ${nic} is a citizen's NIC`);
        }
      }
      expect(problems).toEqual([]);
      expect(old / citizens.length).toBeGreaterThan(0.2);
      expect(old / citizens.length).toBeLessThan(0.6);
    });

    it('keeps DRP mostly consistent with RGD, with a few name spellings differing', () => {
      const persons = citizens.flatMap((c) => (c.person ? [[c.birth, c.person] as const] : []));
      const differing = persons.filter(([b, p]) => b.fullName !== p.fullName).length;
      expect(differing / persons.length).toBeGreaterThan(0.005);
      expect(differing / persons.length).toBeLessThan(0.04);
      const inconsistent = persons.filter(
        ([b, p]) => p.nic !== b.nic || p.dateOfBirth !== b.dateOfBirth || p.sex !== b.sex,
      );
      expect(inconsistent).toEqual([]);
    });

    it('uses unique registration numbers, Farajaland places and the class catalogue', () => {
      const brns = new Set(citizens.map((c) => c.birth.birthRegistrationNumber));
      expect(brns.size).toBe(citizens.length);
      const vehicles = citizens.flatMap((c) => c.vehicles);
      expect(new Set(vehicles.map((v) => v.registrationNumber)).size).toBe(vehicles.length);
      const codes = new Set(vehicleClasses.map((c) => c.classCode));
      expect(
        vehicles.filter(
          (v) => !/^[A-Z]{3}-\d{4}$/.test(v.registrationNumber) || !v.classCodes.every((c) => codes.has(c)),
        ),
      ).toEqual([]);
      const districtNames = new Set(districts.map((d) => d.name));
      const badBirths = citizens.filter(
        ({ birth: b }) =>
          !districtNames.has(b.district) ||
          b.registeredOn < b.dateOfBirth ||
          b.registeredOn >= REFERENCE_DATE,
      );
      expect(badBirths).toEqual([]);
    });
  });
});

const PINNED_HASH_1000 = '26871dc9f07217eb562a3d975392f0b4645cc78dfc53000f9021c7fc90ec842a';
