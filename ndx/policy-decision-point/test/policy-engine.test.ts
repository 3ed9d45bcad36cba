import { describe, expect, it } from 'vitest';
import { decideFields, localTime } from '../src/decision-engine.ts';
import { checkBundle, checkPolicies, compileBundle, PolicyInvalidError } from '../src/policy-compiler.ts';
import type { FieldRef, PolicyDecisionRequest } from '@ndx/contract';
import type { BundleContent, Grant } from '../src/policy-model.ts';
import { farajalandSeed } from '../src/seed-farajaland.ts';

// Farajaland time is Africa/Lusaka (UTC+2): 08:00Z is 10:00 there, 21:00Z is 23:00.
const ZONE = 'Africa/Lusaka';
const DAY = new Date('2026-03-10T08:00:00Z');
const NIGHT = new Date('2026-03-10T21:00:00Z');

const rgd = (field: string): FieldRef => ({ providerKey: 'rgd', schemaId: 'abc-212', field });
const drp = (field: string): FieldRef => ({ providerKey: 'drp', schemaId: 'drp-schema-v1', field });
const dmt = (field: string): FieldRef => ({ providerKey: 'dmt', schemaId: 'dmt-schema-v1', field });

let versionCounter = 100;
const compile = (content: BundleContent = farajalandSeed) =>
  compileBundle({ version: ++versionCounter, ...content });
const seed = compile();

function decide(request: Partial<PolicyDecisionRequest> & { fields: FieldRef[] }, at = DAY, compiled = seed) {
  const full: PolicyDecisionRequest = {
    consumerId: 'passport-app',
    purpose: 'passport-application',
    subjectId: '199012345678',
    ...request,
  };
  return decideFields(compiled, full, at, ZONE).fields;
}

function withGrant(
  content: BundleContent,
  consumerId: string,
  purpose: string,
  change: Partial<Grant>,
): BundleContent {
  return {
    ...content,
    grants: content.grants.map((g) =>
      g.consumerId === consumerId && g.purpose === purpose ? { ...g, ...change } : g,
    ),
  };
}

describe('Farajaland seed', () => {
  it('is a valid bundle with metadata for every RGD, DRP and DMT field', () => {
    expect(checkBundle(farajalandSeed)).toEqual([]);
    const keys = farajalandSeed.fields.map((f) => `${f.providerKey}:${f.field}`);
    expect(keys).toHaveLength(13 + 5 + 14);
    expect(keys).toContain('rgd:getPersonInfo.motherNic');
    expect(keys).toContain('drp:person.permanentAddress');
    expect(keys).toContain('dmt:vehiclesByOwner.classes.classCode');
    expect(keys).toContain('dmt:vehicleClasses.className');
  });

  it('needs consent for every personal field granted to the passport app', () => {
    const granted = farajalandSeed.grants.find((g) => g.consumerId === 'passport-app')!.fields;
    const result = decide({ fields: granted });
    expect(result.length).toBeGreaterThan(10);
    for (const f of result) {
      expect(f.decision).toBe('CONSENT_REQUIRED');
      expect(f.policyIds).toEqual(expect.arrayContaining(['grant', 'personal-data-needs-consent']));
    }
  });
});

describe('grants', () => {
  it('denies a field that was not granted (parents NICs, vehicles) to the passport app', () => {
    const [fatherNic, vehicle] = decide({ fields: [rgd('getPersonInfo.fatherNic'), dmt('vehicle.make')] });
    expect(fatherNic).toMatchObject({
      decision: 'DENY',
      reason: 'NOT_GRANTED',
      policyIds: ['personal-data-needs-consent'],
    });
    expect(vehicle).toMatchObject({ decision: 'DENY', reason: 'NOT_GRANTED', policyIds: [] });
  });

  it('denies every field to an unknown consumer', () => {
    const result = decide({
      consumerId: 'someone-else',
      fields: [rgd('getPersonInfo.fullName'), dmt('vehicleClasses.className')],
    });
    expect(result.map((f) => [f.decision, f.reason])).toEqual([
      ['DENY', 'UNKNOWN_CONSUMER'],
      ['DENY', 'UNKNOWN_CONSUMER'],
    ]);
  });

  it('denies an unknown field without failing the other fields', () => {
    const [unknown, known] = decide({ fields: [rgd('getPersonInfo.shoeSize'), drp('person.fullName')] });
    expect(unknown).toMatchObject({ decision: 'DENY', reason: 'UNKNOWN_FIELD', policyIds: [] });
    expect(known).toMatchObject({ decision: 'CONSENT_REQUIRED' });
  });

  it('denies a purpose the consumer did not register', () => {
    const [f] = decide({ purpose: 'marketing', fields: [drp('person.fullName')] });
    expect(f).toMatchObject({ decision: 'DENY', reason: 'NOT_GRANTED' });
  });

  it('denies a grant for a purpose the consumer has not registered (and permits once registered)', () => {
    const content: BundleContent = {
      ...farajalandSeed,
      grants: [
        ...farajalandSeed.grants,
        {
          consumerId: 'passport-app',
          purpose: 'research',
          fields: [drp('person.profession')],
          legalBasis: 'consent',
          expiresAt: null,
          window: null,
        },
      ],
    };
    const [unregistered] = decide(
      { purpose: 'research', fields: [drp('person.profession')] },
      DAY,
      compile(content),
    );
    expect(unregistered!.decision).toBe('DENY');
    const registered = {
      ...content,
      consumers: content.consumers.map((c) =>
        c.consumerId === 'passport-app' ? { ...c, purposes: [...c.purposes, 'research'] } : c,
      ),
    };
    const [allowed] = decide(
      { purpose: 'research', fields: [drp('person.profession')] },
      DAY,
      compile(registered),
    );
    expect(allowed!.decision).toBe('CONSENT_REQUIRED');
  });

  it('stops releasing a field once the grant has expired', () => {
    const expiring = compile(
      withGrant(farajalandSeed, 'passport-app', 'passport-application', {
        expiresAt: '2026-03-10T09:00:00.000Z',
      }),
    );
    expect(decide({ fields: [drp('person.nic')] }, DAY, expiring)[0]!.decision).toBe('CONSENT_REQUIRED');
    expect(
      decide({ fields: [drp('person.nic')] }, new Date('2026-03-10T09:00:01Z'), expiring)[0],
    ).toMatchObject({
      decision: 'DENY',
      reason: 'NOT_GRANTED',
    });
  });
});

describe('consent and legal basis', () => {
  it('cannot ask consent without a data subject', () => {
    const [f] = decide({ subjectId: null, fields: [drp('person.fullName')] });
    expect(f).toMatchObject({ decision: 'DENY', reason: 'FORBIDDEN' });
    expect(f!.policyIds).toContain('consent-needs-a-data-subject');
  });

  it('releases personal vehicle data to the traffic police without consent under a legal obligation', () => {
    const result = decide({
      consumerId: 'traffic-police-app',
      purpose: 'traffic-enforcement',
      subjectId: '199012345678',
      fields: [
        dmt('vehiclesByOwner.registrationNumber'),
        dmt('vehicle.make'),
        dmt('vehicleClasses.classCode'),
      ],
    });
    expect(result.map((f) => f.decision)).toEqual(['PERMIT', 'PERMIT', 'PERMIT']);
    expect(result[0]!.policyIds).toEqual(['grant']);
  });

  it('needs consent for confidential data when the same grant is consent-based', () => {
    const consentBased = compile(
      withGrant(farajalandSeed, 'traffic-police-app', 'traffic-enforcement', { legalBasis: 'consent' }),
    );
    const [byOwner, classes] = decide(
      {
        consumerId: 'traffic-police-app',
        purpose: 'traffic-enforcement',
        fields: [dmt('vehiclesByOwner.make'), dmt('vehicleClasses.className')],
      },
      DAY,
      consentBased,
    );
    expect(byOwner!.decision).toBe('CONSENT_REQUIRED');
    expect(classes!.decision).toBe('PERMIT');
  });
});

describe('time windows', () => {
  const traffic = { consumerId: 'traffic-police-app', purpose: 'traffic-enforcement', subjectId: null };

  it('releases vehicle data to the traffic police only between 06:00 and 22:00 Farajaland time', () => {
    expect(decide({ ...traffic, fields: [dmt('vehicle.model')] }, DAY)[0]!.decision).toBe('PERMIT');
    const [night] = decide({ ...traffic, fields: [dmt('vehicle.model')] }, NIGHT);
    expect(night).toMatchObject({ decision: 'DENY', reason: 'FORBIDDEN' });
    expect(night!.policyIds).toContain('grant-time-window');
    // 05:59 and 22:00 local are outside, 06:00 inside.
    expect(
      decide({ ...traffic, fields: [dmt('vehicle.model')] }, new Date('2026-03-10T03:59:00Z'))[0]!.decision,
    ).toBe('DENY');
    expect(
      decide({ ...traffic, fields: [dmt('vehicle.model')] }, new Date('2026-03-10T04:00:00Z'))[0]!.decision,
    ).toBe('PERMIT');
    expect(
      decide({ ...traffic, fields: [dmt('vehicle.model')] }, new Date('2026-03-10T20:00:00Z'))[0]!.decision,
    ).toBe('DENY');
  });

  it('keeps the public vehicle class catalogue available outside the window', () => {
    expect(decide({ ...traffic, fields: [dmt('vehicleClasses.className')] }, NIGHT)[0]!.decision).toBe(
      'PERMIT',
    );
  });

  it('supports a window over midnight', () => {
    const overnight = compile(
      withGrant(farajalandSeed, 'traffic-police-app', 'traffic-enforcement', {
        window: { start: 22 * 60, end: 6 * 60 },
      }),
    );
    expect(decide({ ...traffic, fields: [dmt('vehicle.make')] }, NIGHT, overnight)[0]!.decision).toBe(
      'PERMIT',
    );
    expect(decide({ ...traffic, fields: [dmt('vehicle.make')] }, DAY, overnight)[0]!.decision).toBe('DENY');
  });

  it('computes Farajaland local time, date and weekday', () => {
    expect(localTime(new Date('2026-03-10T22:30:00Z'), ZONE)).toEqual({
      minuteOfDay: 30,
      date: '2026-03-11',
      dayOfWeek: 3,
    });
  });
});

describe('emergency forbid', () => {
  it('blocks a consumer at once, overriding every permit', () => {
    const blocked = compile({
      ...farajalandSeed,
      policies: `${farajalandSeed.policies}
@id("emergency-block-traffic-police")
forbid (principal == Ndx::Consumer::"traffic-police-app", action, resource);`,
    });
    const result = decide(
      {
        consumerId: 'traffic-police-app',
        purpose: 'traffic-enforcement',
        fields: [dmt('vehicle.make'), dmt('vehicleClasses.className')],
      },
      DAY,
      blocked,
    );
    for (const f of result) {
      expect(f).toMatchObject({ decision: 'DENY', reason: 'FORBIDDEN' });
      expect(f.policyIds).toContain('emergency-block-traffic-police');
    }
    // The passport app is not affected.
    expect(decide({ fields: [drp('person.nic')] }, DAY, blocked)[0]!.decision).toBe('CONSENT_REQUIRED');
  });
});

describe('policy validation', () => {
  it("rejects an attribute the schema does not have, with Cedar's message", () => {
    const { problems } = checkPolicies(
      '@id("x")\npermit (principal, action, resource) when { resource.colour == "red" };',
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ policyId: 'x' });
    expect(problems[0]!.message).toMatch(/attribute `colour` on entity type `Ndx::ProviderField` not found/);
  });

  it("rejects a syntax error with Cedar's parser message", () => {
    const { problems } = checkPolicies('@id("x") permit (principal, action, resource) when { 1 + };');
    expect(problems[0]!.message).toMatch(/unexpected token/);
  });

  it('rejects an unguarded optional attribute (strict validation)', () => {
    const { problems } = checkPolicies(
      '@id("x") permit (principal, action, resource) when { context.subject == "1" };',
    );
    expect(problems[0]!.message).toMatch(/optional attribute `subject`/);
  });

  it('requires a unique @id on every policy', () => {
    expect(checkPolicies('permit (principal, action, resource);').problems[0]!.message).toMatch(/no @id/);
    expect(
      checkPolicies(
        '@id("a") permit (principal, action, resource);\n@id("a") forbid (principal, action, resource);',
      ).problems[0]!.message,
    ).toMatch(/used twice/);
  });

  it('rejects a grant naming a field without metadata, and compiling it throws', () => {
    const bad = {
      ...farajalandSeed,
      grants: [{ ...farajalandSeed.grants[0]!, fields: [rgd('getPersonInfo.shoeSize')] }],
    };
    expect(checkBundle(bad)[0]!.message).toMatch(/unknown field rgd\/abc-212\/getPersonInfo.shoeSize/);
    expect(() => compile(bad)).toThrow(PolicyInvalidError);
  });
});

describe('answers reused within one second', () => {
  const passportFields = [
    rgd('getPersonInfo.fullName'),
    rgd('getPersonInfo.dateOfBirth'),
    drp('person.profession'),
  ];

  it('give exactly what a fresh evaluation gives', () => {
    const request: PolicyDecisionRequest = {
      consumerId: 'passport-app',
      purpose: 'passport-application',
      subjectId: '199012345678',
      fields: passportFields,
    };
    const fresh = decideFields(seed, request, DAY, ZONE, true).fields;
    const first = decideFields(seed, request, DAY, ZONE).fields;
    const reused = decideFields(seed, { ...request, subjectId: '852321234V' }, DAY, ZONE).fields;
    expect(first).toEqual(fresh);
    expect(reused).toEqual(fresh);
  });

  it('still tell citizens apart when a policy reads the data subject', () => {
    const blocked = compile({
      ...farajalandSeed,
      policies: `${farajalandSeed.policies}
@id("protected-citizen")
forbid (principal, action, resource) when { context has subject && context.subject == "852321234V" };`,
    });
    const at = new Date('2026-03-10T08:00:05Z');
    const other = decide({ subjectId: '199012345678', fields: passportFields }, at, blocked);
    const protectedOne = decide({ subjectId: '852321234V', fields: passportFields }, at, blocked);
    expect(other.map((f) => f.decision)).toEqual([
      'CONSENT_REQUIRED',
      'CONSENT_REQUIRED',
      'CONSENT_REQUIRED',
    ]);
    expect(protectedOne.map((f) => f.decision)).toEqual(['DENY', 'DENY', 'DENY']);
  });

  it('do not outlive the second: a grant that expires is refused from the next second on', () => {
    const expiring = compile(
      withGrant(farajalandSeed, 'passport-app', 'passport-application', {
        expiresAt: '2026-03-10T08:00:01.000Z',
      }),
    );
    const before = decide({ fields: passportFields }, new Date('2026-03-10T08:00:00.400Z'), expiring);
    const after = decide({ fields: passportFields }, new Date('2026-03-10T08:00:01.200Z'), expiring);
    expect(before.every((f) => f.decision === 'CONSENT_REQUIRED')).toBe(true);
    expect(after.every((f) => f.decision === 'DENY')).toBe(true);
  });
});
