import { describe, expect, it } from 'vitest';
import { parseNic, type Nic } from '@ndx/contract';
import { endUserOf, mayProcess, roleOf, type SignedInUser } from '../src/access-rules.ts';
import { safeReturnPath } from '../src/fudi-sign-in.ts';

const nic = (text: string): Nic => parseNic(text)!;
const amara: SignedInUser = { subject: '199560201234', role: 'applicant' };
const officer: SignedInUser = { subject: '198220399017', role: 'officer' };

describe('who may process an application', () => {
  it('an applicant their own NIC only, an officer any, an account without a NIC none', () => {
    expect(mayProcess(amara, nic('199560201234'))).toBe(true);
    expect(mayProcess(amara, nic('783345678V'))).toBe(false);
    expect(mayProcess(officer, nic('783345678V'))).toBe(true);
    expect(mayProcess(officer, nic('199560201234'))).toBe(true);
    expect(mayProcess({ subject: 'svc:robot', role: 'applicant' }, nic('199560201234'))).toBe(false);
  });

  it('only the configured role in the roles claim makes an officer', () => {
    expect(roleOf(['die-officer'], 'die-officer')).toBe('officer');
    expect(roleOf(['clerk', 'die-officer'], 'die-officer')).toBe('officer');
    expect(roleOf([], 'die-officer')).toBe('applicant');
    expect(roleOf(['die-officers'], 'die-officer')).toBe('applicant');
    expect(roleOf('die-officer', 'die-officer')).toBe('applicant');
    expect(roleOf(undefined, 'die-officer')).toBe('applicant');
  });

  it('tells NDX the FUDI subject and the role', () => {
    expect(endUserOf({ ...officer, name: 'Mutale Kabwe' })).toEqual({
      subject: '198220399017',
      role: 'officer',
    });
  });
});

describe('where the browser goes after signing in', () => {
  it('a path on this app, and nowhere else', () => {
    expect(safeReturnPath('/applications/0b6c9f4e-2a57-4f53-9a3e-1d2c3b4a5f60?manual=1')).toBe(
      '/applications/0b6c9f4e-2a57-4f53-9a3e-1d2c3b4a5f60?manual=1',
    );
    for (const elsewhere of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
      '',
      undefined,
      `/${'a'.repeat(400)}`,
    ]) {
      expect(safeReturnPath(elsewhere), String(elsewhere)).toBe('/');
    }
  });
});
