import { describe, expect, it } from 'vitest';
import { isCanonicalNic, nicSchema, parseNic, tidyNicInput } from '../src/nic.ts';

// One table for every place a NIC is typed or passed: FUDI sign-in, the OE's arguments, the consent
// engine, the passport app. The left column is the input, the right its canonical form (null: refused).
const table: Array<[input: unknown, canonical: string | null]> = [
  // Old cards: 9 digits and V or X.
  ['852321234V', '852321234V'],
  ['852321234X', '852321234X'],
  ['852321234v', '852321234V'],
  ['783345678x', '783345678X'],
  // New cards: 12 digits.
  ['199560201234', '199560201234'],
  // Whitespace around and inside, of any kind, is dropped.
  ['  852321234V  ', '852321234V'],
  ['852 321 234 v', '852321234V'],
  [' 1995 6020 1234 ', '199560201234'],
  ['\t199560201234\n', '199560201234'],
  ['1995\u00a06020\u00a01234', '199560201234'],
  // ASCII hyphens anywhere are dropped.
  ['1995-602-01234', '199560201234'],
  ['852-321-234-V', '852321234V'],
  ['-199560201234-', '199560201234'],
  // Everything else is refused.
  ['', null],
  ['   ', null],
  ['12345', null],
  ['85232123V', null], // 8 digits
  ['8523212345V', null], // 10 digits
  ['852321234', null], // 9 digits, no letter
  ['852321234A', null], // another letter
  ['V852321234', null], // letter first
  ['19956020123', null], // 11 digits
  ['1995602012345', null], // 13 digits
  ['19956020123V', null], // 12 digits and a letter
  ['1995.602.01234', null], // dots are not forgiven
  ['1995_602_01234', null], // neither are underscores
  ['1995\u2013602\u201301234', null], // nor en dashes
  ['１９９５６０２０１２３４', null], // full-width digits
  ["1' OR '1'='1", null],
  [`${' '.repeat(60)}199560201234`, null], // over 64 characters, however spaced
  [199560201234, null],
  [null, null],
  [undefined, null],
  [{ nic: '199560201234' }, null],
];

describe('the one NIC rule', () => {
  it.each(table)('parseNic(%j) is %j', (input, canonical) => {
    expect(parseNic(input)).toBe(canonical);
  });

  it('nicSchema accepts what parseNic accepts, as the same canonical form, and refuses the rest with the formats named', () => {
    for (const [input, canonical] of table) {
      const result = nicSchema.safeParse(input);
      if (canonical === null) {
        expect(result.success, JSON.stringify(input)).toBe(false);
        if (typeof input === 'string' && input.length <= 64) {
          expect(result.error?.issues[0]?.message).toMatch(/^must be a NIC: 9 digits and V or X/);
        }
      } else {
        expect(result.success && result.data, JSON.stringify(input)).toBe(canonical);
      }
    }
  });

  it('a canonical NIC parses to itself, and only canonical spellings pass isCanonicalNic', () => {
    for (const [input, canonical] of table) {
      if (canonical !== null) expect(parseNic(canonical)).toBe(canonical);
      expect(isCanonicalNic(input), JSON.stringify(input)).toBe(canonical !== null && input === canonical);
    }
  });

  it('tidyNicInput applies the tolerance rule to anything typed, NIC or not', () => {
    expect(tidyNicInput(' 852 321-234 v ')).toBe('852321234V');
    expect(tidyNicInput('not a nic')).toBe('NOTANIC');
    expect(tidyNicInput('')).toBe('');
  });
});
