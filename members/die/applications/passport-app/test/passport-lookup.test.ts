import { describe, expect, it } from 'vitest';
import { parseSubmission, prefill } from '../src/passport-form.ts';
import { graphQLResponseSchema, interpretAnswer, type GraphQLResponse } from '../src/passport-lookup.ts';

const NOW = new Date('2026-03-01T10:00:00Z');
const answer = (body: unknown): GraphQLResponse => graphQLResponseSchema.parse(body);

const esther = {
  fullName: 'Ester Banda',
  name: 'Esther Banda',
  otherNames: null,
  address: '12 Lake Road, Chipata',
  profession: 'Teacher',
  dateOfBirth: '1990-06-15',
  sex: 'FEMALE',
  birthInfo: {
    birthRegistrationNumber: 'RGD-1990-000123',
    birthPlace: 'Chipata General Hospital',
    district: 'Chipata',
  },
};

describe('reading the NDX answer', () => {
  it('marks every released value with the agency that holds it', () => {
    const lookup = interpretAnswer(answer({ data: { personInfo: esther } }), 'START', NOW);
    expect(lookup.outcome).toBe('COMPLETE');
    expect(lookup.values.fullName).toEqual({ agency: 'DRP', status: 'RELEASED', value: 'Ester Banda' });
    expect(lookup.values.name).toEqual({ agency: 'RGD', status: 'RELEASED', value: 'Esther Banda' });
    expect(lookup.values['birthInfo.district']).toEqual({
      agency: 'RGD',
      status: 'RELEASED',
      value: 'Chipata',
    });
    expect(lookup.values.otherNames.status).toBe('NO_VALUE');
  });

  it('keeps the released part of a partial answer and the reason for each withheld field', () => {
    const lookup = interpretAnswer(
      answer({
        data: { personInfo: { ...esther, fullName: null, address: null, profession: null, birthInfo: null } },
        errors: [
          {
            message: 'consent required',
            path: ['personInfo', 'fullName'],
            extensions: {
              code: 'CONSENT_REQUIRED',
              consentId: 'c-1',
              consentPortalUrl: 'http://127.0.0.1:8081/consent/c-1',
            },
          },
          { message: 'denied', path: ['personInfo', 'profession'], extensions: { code: 'FORBIDDEN' } },
          { message: 'down', path: ['personInfo', 'address'], extensions: { code: 'PROVIDER_UNAVAILABLE' } },
          { message: 'broken', path: ['personInfo', 'birthInfo'], extensions: { code: 'PROVIDER_ERROR' } },
        ],
      }),
      'START',
      NOW,
    );
    expect(lookup.outcome).toBe('PARTIAL');
    expect(lookup.values.name.status).toBe('RELEASED');
    expect(lookup.values.fullName.status).toBe('CONSENT_REQUIRED');
    expect(lookup.values.profession.status).toBe('FORBIDDEN');
    expect(lookup.values.address.status).toBe('PROVIDER_UNAVAILABLE');
    // An error on the parent object withholds each of its fields.
    expect(lookup.values['birthInfo.birthPlace'].status).toBe('PROVIDER_ERROR');
    expect(lookup.values['birthInfo.district'].status).toBe('PROVIDER_ERROR');
    expect(lookup.consent).toEqual({ consentId: 'c-1', portalUrl: 'http://127.0.0.1:8081/consent/c-1' });
  });

  it('treats an answer without data as nothing released, keeping the error code', () => {
    const lookup = interpretAnswer(
      answer({ data: null, errors: [{ message: 'audit down', extensions: { code: 'AUDIT_UNAVAILABLE' } }] }),
      'REFRESH',
      NOW,
    );
    expect(lookup.outcome).toBe('FAILED');
    expect(lookup.problem).toEqual({ code: 'AUDIT_UNAVAILABLE', message: 'audit down' });
    expect(lookup.values.name.status).toBe('NOT_FETCHED');
  });

  it('tells an unknown citizen apart from a refusal', () => {
    expect(interpretAnswer(answer({ data: { personInfo: null } }), 'START', NOW).outcome).toBe('NOT_FOUND');
    const refused = interpretAnswer(
      answer({
        data: { personInfo: null },
        errors: [{ message: 'bad nic', extensions: { code: 'BAD_USER_INPUT' } }],
      }),
      'START',
      NOW,
    );
    expect(refused.outcome).toBe('FAILED');
    expect(refused.problem?.code).toBe('BAD_USER_INPUT');
  });
});

describe('the pre-filled form', () => {
  it('prefers the birth record for the name and flags a different DRP full name', () => {
    const filled = prefill(interpretAnswer(answer({ data: { personInfo: esther } }), 'START', NOW));
    expect(filled.fullName.value).toBe('Esther Banda');
    expect(filled.fullName.agency).toBe('RGD');
    expect(filled.fullName.mismatch).toBe(true);
    expect(filled.address).toMatchObject({ value: '12 Lake Road, Chipata', agency: 'DRP', mismatch: false });
  });

  it('does not flag names that differ only in case or spacing', () => {
    const filled = prefill(
      interpretAnswer(
        answer({ data: { personInfo: { ...esther, fullName: 'esther  BANDA' } } }),
        'START',
        NOW,
      ),
    );
    expect(filled.fullName.mismatch).toBe(false);
  });

  it('falls back to DRP when RGD withholds the name', () => {
    const filled = prefill(
      interpretAnswer(
        answer({
          data: { personInfo: { ...esther, name: null } },
          errors: [{ message: 'no', path: ['personInfo', 'name'], extensions: { code: 'FORBIDDEN' } }],
        }),
        'START',
        NOW,
      ),
    );
    expect(filled.fullName).toMatchObject({ value: 'Ester Banda', agency: 'DRP', mismatch: false });
  });

  it('records for each submitted value whether it came from an agency or from the officer', () => {
    const lookup = interpretAnswer(answer({ data: { personInfo: esther } }), 'START', NOW);
    const result = parseSubmission(
      {
        fullName: 'Ester Banda',
        otherNames: '',
        dateOfBirth: '1990-06-15',
        sex: 'FEMALE',
        placeOfBirth: 'Chipata General Hospital',
        districtOfBirth: 'Chipata',
        birthRegistrationNumber: 'RGD-1990-000123',
        address: '14 Lake Road, Chipata',
        profession: 'Teacher',
      },
      lookup,
      NOW,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.form.fullName).toEqual({ value: 'Ester Banda', provenance: 'DRP' });
    expect(result.form.dateOfBirth.provenance).toBe('RGD');
    expect(result.form.address).toEqual({ value: '14 Lake Road, Chipata', provenance: 'OFFICER' });
    expect(result.form.otherNames.provenance).toBe('OFFICER');
  });

  it('refuses a submission with missing or impossible values, naming each field', () => {
    const result = parseSubmission({ fullName: ' ', dateOfBirth: '2026-02-30', sex: 'X' }, undefined, NOW);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(Object.keys(result.errors).sort()).toEqual([
      'address',
      'dateOfBirth',
      'fullName',
      'placeOfBirth',
      'sex',
    ]);
    const future = parseSubmission(
      { fullName: 'A B', dateOfBirth: '2027-01-01', sex: 'MALE', placeOfBirth: 'X', address: 'Y' },
      undefined,
      NOW,
    );
    expect(future.ok).toBe(false);
    if (!future.ok) expect(future.errors.dateOfBirth).toBe('cannot be in the future');
  });
});
