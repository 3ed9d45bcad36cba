/**
 * Farajaland national identity card numbers (NIC), in the two formats in use:
 *   old: YY DDD SSS C + V|X   (9 digits and a letter), e.g. 852321234V
 *   new: YYYY DDD SSSS C      (12 digits),             e.g. 199560201234
 * DDD is the day of the year of birth (1..366), plus 500 for women; SSS/SSSS is a serial;
 * C is a check digit. An old NIC converts to the new format as 19YY DDD 0SSS C.
 */

export type Sex = 'MALE' | 'FEMALE';
export type NicFormat = 'old' | 'new';

/** The formats of the provider contract: old `^\d{9}[VX]$`, new `^\d{12}$`. */
export const OLD_NIC_PATTERN = /^\d{9}[VX]$/;
export const NEW_NIC_PATTERN = /^\d{12}$/;

/** True when the text has the shape of a NIC in either format (no date check). */
export function isNicFormat(text: string): boolean {
  return OLD_NIC_PATTERN.test(text) || NEW_NIC_PATTERN.test(text);
}

export interface DecodedNic {
  format: NicFormat;
  /** Full year of birth (old NICs are 19YY). */
  birthYear: number;
  /** Day of the year of birth, 1..366. */
  dayOfYear: number;
  sex: Sex;
  /** YYYY-MM-DD */
  dateOfBirth: string;
  /** The serial as four digits (old serials get a leading 0). */
  serial: string;
  checkDigit: string;
  /** The same number in the new, 12-digit format. */
  asNewFormat: string;
}

/** Decodes a NIC; null when it is not a NIC or its day of year does not exist in its year. */
export function decodeNic(nic: string): DecodedNic | null {
  let format: NicFormat;
  let birthYear: number;
  let dayCode: number;
  let serial: string;
  let checkDigit: string;
  if (OLD_NIC_PATTERN.test(nic)) {
    format = 'old';
    birthYear = 1900 + Number(nic.slice(0, 2));
    dayCode = Number(nic.slice(2, 5));
    serial = `0${nic.slice(5, 8)}`;
    checkDigit = nic.slice(8, 9);
  } else if (NEW_NIC_PATTERN.test(nic)) {
    format = 'new';
    birthYear = Number(nic.slice(0, 4));
    dayCode = Number(nic.slice(4, 7));
    serial = nic.slice(7, 11);
    checkDigit = nic.slice(11, 12);
  } else {
    return null;
  }
  const sex: Sex = dayCode > 500 ? 'FEMALE' : 'MALE';
  const dayOfYear = sex === 'FEMALE' ? dayCode - 500 : dayCode;
  if (dayOfYear < 1 || dayOfYear > daysInYear(birthYear)) return null;
  return {
    format,
    birthYear,
    dayOfYear,
    sex,
    dateOfBirth: dateFromDayOfYear(birthYear, dayOfYear),
    serial,
    checkDigit,
    asNewFormat: `${birthYear}${String(dayCode).padStart(3, '0')}${serial}${checkDigit}`,
  };
}

export interface NicParts {
  format: NicFormat;
  /** YYYY-MM-DD; old-format NICs need a 19xx year. */
  dateOfBirth: string;
  sex: Sex;
  /** 0..999 for old NICs, 0..9999 for new ones. */
  serial: number;
  checkDigit: number;
  /** Old NICs only: V (the usual) or X. */
  letter?: 'V' | 'X';
}

/** Builds a NIC from its parts; throws on parts that cannot form one. */
export function encodeNic(parts: NicParts): string {
  const year = Number(parts.dateOfBirth.slice(0, 4));
  const dayCode = dayOfYear(parts.dateOfBirth) + (parts.sex === 'FEMALE' ? 500 : 0);
  const ddd = String(dayCode).padStart(3, '0');
  if (parts.format === 'old') {
    if (year < 1900 || year > 1999) throw new Error(`an old-format NIC needs a 19xx birth year, got ${year}`);
    if (parts.serial > 999) throw new Error('an old-format serial has three digits');
    return `${String(year - 1900).padStart(2, '0')}${ddd}${String(parts.serial).padStart(3, '0')}${parts.checkDigit}${parts.letter ?? 'V'}`;
  }
  return `${year}${ddd}${String(parts.serial).padStart(4, '0')}${parts.checkDigit}`;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInYear(year: number): number {
  return isLeapYear(year) ? 366 : 365;
}

/** Day of the year (1..366) of a YYYY-MM-DD date. */
export function dayOfYear(date: string): number {
  const year = Number(date.slice(0, 4));
  return daysFromCivil(date) - daysFromCivil(`${year}-01-01`) + 1;
}

/** YYYY-MM-DD of the given day of the year. */
export function dateFromDayOfYear(year: number, day: number): string {
  return civilFromDays(daysFromCivil(`${year}-01-01`) + day - 1);
}

/** Days since 1970-01-01 of a YYYY-MM-DD date (proleptic Gregorian, integer arithmetic only). */
export function daysFromCivil(date: string): number {
  let y = Number(date.slice(0, 4));
  const m = Number(date.slice(5, 7));
  const d = Number(date.slice(8, 10));
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** YYYY-MM-DD of a day count since 1970-01-01 (inverse of daysFromCivil). */
export function civilFromDays(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${y}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}
