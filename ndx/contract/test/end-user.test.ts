import { describe, expect, it } from 'vitest';
import { END_USER_HEADER, formatEndUser, parseEndUser } from '../src/end-user.ts';

describe('the NDX-End-User header', () => {
  it('is named NDX-End-User', () => {
    expect(END_USER_HEADER).toBe('NDX-End-User');
  });

  it('formats an end user as sub=<subject>;role=<role> and parses it back', () => {
    const value = formatEndUser({ subject: '852321234V', role: 'applicant' });
    expect(value).toBe('sub=852321234V;role=applicant');
    expect(parseEndUser(value)).toEqual({ subject: '852321234V', role: 'applicant' });
    expect(parseEndUser(formatEndUser({ subject: 'officer:die-0042', role: 'officer' }))).toEqual({
      subject: 'officer:die-0042',
      role: 'officer',
    });
  });

  it('accepts the keys in any order and whitespace around the parts', () => {
    expect(parseEndUser(' role = officer ; sub = o.banda@die ')).toEqual({
      subject: 'o.banda@die',
      role: 'officer',
    });
  });

  const refused: Array<[string, unknown]> = [
    ['not a string', 42],
    ['empty', ''],
    ['no role', 'sub=852321234V'],
    ['no subject', 'role=applicant'],
    ['an unknown role', 'sub=852321234V;role=admin'],
    ['an unknown key', 'sub=852321234V;role=applicant;name=Daliso'],
    ['a repeated key', 'sub=852321234V;sub=1;role=applicant'],
    ['an empty subject', 'sub=;role=applicant'],
    ['a subject with a space', 'sub=Daliso Phiri;role=applicant'],
    ['a subject with a comma', 'sub=a,b;role=applicant'],
    ['a part without =', 'sub=852321234V;applicant'],
    ['JSON', '{"sub":"852321234V","role":"applicant"}'],
    ['a subject longer than 128 characters', `sub=${'a'.repeat(129)};role=applicant`],
  ];
  it.each(refused)('refuses %s', (_name, value) => {
    expect(parseEndUser(value)).toBeNull();
  });

  it('refuses to format an end user the header could not carry', () => {
    expect(() => formatEndUser({ subject: 'a;role=officer', role: 'applicant' })).toThrow();
  });
});
