import { describe, expect, it } from 'vitest';
import { decideFields, localTime } from '../src/decision-engine.ts';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import {
  checkBundle,
  checkPolicies,
  compileBundle,
  PolicyInvalidError,
  readsSubject,
} from '../src/policy-compiler.ts';
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

  it('denies a purpose the consumer did not register (PURPOSE_NOT_REGISTERED)', () => {
    const [f] = decide({ purpose: 'marketing', fields: [drp('person.fullName')] });
    expect(f).toMatchObject({ decision: 'DENY', reason: 'PURPOSE_NOT_REGISTERED' });
  });

  it('denies a grant for a purpose the consumer has not registered, PURPOSE_NOT_REGISTERED (and permits once registered)', () => {
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
    expect(unregistered).toMatchObject({ decision: 'DENY', reason: 'PURPOSE_NOT_REGISTERED' });
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

  it('stops releasing a field once the grant has expired (GRANT_EXPIRED)', () => {
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
      reason: 'GRANT_EXPIRED',
    });
  });
});

describe('consent and legal basis', () => {
  it('cannot ask consent without a data subject (POLICY_FORBIDS)', () => {
    const [f] = decide({ subjectId: null, fields: [drp('person.fullName')] });
    expect(f).toMatchObject({ decision: 'DENY', reason: 'POLICY_FORBIDS' });
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

  it('releases vehicle data to the traffic police only between 06:00 and 22:00 Farajaland time, OUTSIDE_TIME_WINDOW otherwise', () => {
    expect(decide({ ...traffic, fields: [dmt('vehicle.model')] }, DAY)[0]!.decision).toBe('PERMIT');
    const [night] = decide({ ...traffic, fields: [dmt('vehicle.model')] }, NIGHT);
    expect(night).toMatchObject({ decision: 'DENY', reason: 'OUTSIDE_TIME_WINDOW' });
    expect(night!.policyIds).toContain('grant-time-window');
    // 05:59 and 22:00 local are outside, 06:00 inside.
    const at = (iso: string) => decide({ ...traffic, fields: [dmt('vehicle.model')] }, new Date(iso))[0];
    expect(at('2026-03-10T03:59:00Z')).toMatchObject({ decision: 'DENY', reason: 'OUTSIDE_TIME_WINDOW' });
    expect(at('2026-03-10T04:00:00Z')).toMatchObject({ decision: 'PERMIT', reason: 'PERMITTED' });
    expect(at('2026-03-10T20:00:00Z')).toMatchObject({ decision: 'DENY', reason: 'OUTSIDE_TIME_WINDOW' });
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
      expect(f).toMatchObject({ decision: 'DENY', reason: 'POLICY_FORBIDS' });
      expect(f.policyIds).toContain('emergency-block-traffic-police');
    }
    // The passport app is not affected.
    expect(decide({ fields: [drp('person.nic')] }, DAY, blocked)[0]!.decision).toBe('CONSENT_REQUIRED');
  });
});

describe('deny reasons', () => {
  const traffic = { consumerId: 'traffic-police-app', purpose: 'traffic-enforcement', subjectId: null };
  const withPolicies = (extra: string) =>
    compile({ ...farajalandSeed, policies: `${farajalandSeed.policies}\n${extra}` });

  it('NOT_GRANTED for a field the grant does not name, inside and outside its time window', () => {
    for (const at of [DAY, NIGHT]) {
      const [name] = decide({ ...traffic, fields: [rgd('getPersonInfo.fullName')] }, at);
      expect(name).toMatchObject({ decision: 'DENY', reason: 'NOT_GRANTED' });
    }
    // At night the time-window forbid applies too, but the field would be denied inside the window as well.
    expect(decide({ ...traffic, fields: [rgd('getPersonInfo.fullName')] }, NIGHT)[0]!.policyIds).toContain(
      'grant-time-window',
    );
  });

  it('NOT_GRANTED for a consumer with no grant for a purpose it registered', () => {
    const registered = compile({
      ...farajalandSeed,
      consumers: farajalandSeed.consumers.map((c) =>
        c.consumerId === 'passport-app' ? { ...c, purposes: [...c.purposes, 'research'] } : c,
      ),
    });
    const [f] = decide({ purpose: 'research', fields: [drp('person.profession')] }, DAY, registered);
    expect(f).toMatchObject({
      decision: 'DENY',
      reason: 'NOT_GRANTED',
      policyIds: ['personal-data-needs-consent'],
    });
  });

  it('NOT_GRANTED when no permit applies although the grant names the field', () => {
    const noPermit = compile({
      ...farajalandSeed,
      policies: '@id("only-forbids")\nforbid (principal, action, resource) when { context.minuteOfDay < 0 };',
    });
    const [f] = decide({ ...traffic, fields: [dmt('vehicle.make')] }, DAY, noPermit);
    expect(f).toMatchObject({ decision: 'DENY', reason: 'NOT_GRANTED', policyIds: [] });
  });

  it('GRANT_EXPIRED from the very second the grant expires, also outside the time window', () => {
    const expiring = compile(
      withGrant(farajalandSeed, 'traffic-police-app', 'traffic-enforcement', {
        expiresAt: '2026-03-10T08:00:01.000Z',
      }),
    );
    const make = (at: string) =>
      decide({ ...traffic, fields: [dmt('vehicle.make')] }, new Date(at), expiring)[0];
    expect(make('2026-03-10T08:00:00.999Z')).toMatchObject({ decision: 'PERMIT' });
    expect(make('2026-03-10T08:00:01.000Z')).toMatchObject({ decision: 'DENY', reason: 'GRANT_EXPIRED' });
    // 23:00 Farajaland: expired and outside the window; waiting for the window would not help.
    const night = make('2026-03-10T21:00:00Z');
    expect(night).toMatchObject({ decision: 'DENY', reason: 'GRANT_EXPIRED' });
    expect(night!.policyIds).toContain('grant-time-window');
  });

  it('POLICY_FORBIDS for a forbid without @reason, before OUTSIDE_TIME_WINDOW', () => {
    const blocked = withPolicies(
      '@id("emergency-stop-dmt")\nforbid (principal in Ndx::Member::"dmt", action, resource);',
    );
    for (const at of [DAY, NIGHT]) {
      const [make] = decide({ ...traffic, fields: [dmt('vehicle.make')] }, at, blocked);
      expect(make).toMatchObject({ decision: 'DENY', reason: 'POLICY_FORBIDS' });
      expect(make!.policyIds).toContain('emergency-stop-dmt');
    }
  });

  it('the reason a forbid names with @reason, read from the policy and not its id', () => {
    const annotated = withPolicies(
      '@id("dmt-agreement-ended")\n@reason("GRANT_EXPIRED")\nforbid (principal in Ndx::Member::"dmt", action, resource);',
    );
    const [ended] = decide({ ...traffic, fields: [dmt('vehicle.make')] }, DAY, annotated);
    expect(ended).toMatchObject({ decision: 'DENY', reason: 'GRANT_EXPIRED' });
    expect(ended!.policyIds).toContain('dmt-agreement-ended');
    // The seed's time window without its @reason is just a forbid.
    const policies = farajalandSeed.policies.replaceAll('@reason("OUTSIDE_TIME_WINDOW")', '');
    expect(policies).not.toContain('OUTSIDE_TIME_WINDOW');
    const unannotated = compile({ ...farajalandSeed, policies });
    const [night] = decide({ ...traffic, fields: [dmt('vehicle.make')] }, NIGHT, unannotated);
    expect(night).toMatchObject({ decision: 'DENY', reason: 'POLICY_FORBIDS' });
    expect(night!.policyIds).toContain('grant-time-window');
  });

  it('UNKNOWN_CONSUMER and UNKNOWN_FIELD before anything else', () => {
    expect(decide({ consumerId: 'nobody', fields: [drp('person.nic')] }, NIGHT)[0]).toMatchObject({
      decision: 'DENY',
      reason: 'UNKNOWN_CONSUMER',
    });
    expect(decide({ purpose: 'marketing', fields: [drp('person.shoeSize')] })[0]).toMatchObject({
      decision: 'DENY',
      reason: 'UNKNOWN_FIELD',
    });
  });

  it('are the same in a dry run (explain) as in a decision', () => {
    const request: PolicyDecisionRequest = {
      ...traffic,
      fields: [dmt('vehicle.make'), rgd('getPersonInfo.fullName'), dmt('vehicleClasses.className')],
    };
    const explained = decideFields(seed, request, NIGHT, ZONE, true).fields;
    expect(explained.map((f) => f.reason)).toEqual(['OUTSIDE_TIME_WINDOW', 'NOT_GRANTED', 'PERMITTED']);
    expect(decideFields(seed, request, NIGHT, ZONE).fields).toEqual(explained);
  });

  it('rejects a @reason that is not a forbid reason, or on a permit', () => {
    const unknown = checkPolicies('@id("x") @reason("BECAUSE") forbid (principal, action, resource);');
    expect(unknown.problems).toEqual([
      expect.objectContaining({ policyId: 'x', message: expect.stringMatching(/^@reason must be one of/) }),
    ]);
    const notForbid = checkPolicies(
      '@id("y") @reason("UNKNOWN_FIELD") forbid (principal, action, resource);',
    );
    expect(notForbid.problems[0]).toMatchObject({ policyId: 'y' });
    const permit = checkPolicies('@id("z") @reason("NOT_GRANTED") permit (principal, action, resource);');
    expect(permit.problems[0]).toMatchObject({
      policyId: 'z',
      message: '@reason names why a forbid denies; a permit cannot have one',
    });
    expect(
      checkPolicies('@id("ok") @reason("OUTSIDE_TIME_WINDOW") forbid (principal, action, resource);')
        .problems,
    ).toEqual([]);
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

  // Every way a policy can read the data subject: Cedar sees the same expression, whatever the text.
  const spellings: [string, string][] = [
    ['context.subject', 'context.subject == "852321234V"'],
    ['context["subject"]', 'context["subject"] == "852321234V"'],
    ['a comment between context and .subject', 'context // the citizen\n  .subject == "852321234V"'],
    ['whitespace and line breaks', 'context\n\t.\n\tsubject == "852321234V"'],
    ['spaced brackets', 'context [ "subject" ] == "852321234V"'],
    ['a set membership', '["852321234V", "000000000V"].contains(context.subject)'],
    ['a pattern', 'context.subject like "85232*"'],
  ];

  it.each(spellings)(
    'never answer one citizen with another citizen’s decision in the same second (%s)',
    (_name, condition) => {
      const blocked = compile({
        ...farajalandSeed,
        policies: `${farajalandSeed.policies}
@id("protected-citizen")
forbid (principal, action, resource) when { context has subject && ${condition} };`,
      });
      expect(blocked.readsSubject).toBe(true);
      const protectedDecision = ['DENY', 'DENY', 'DENY'];
      const otherDecision = ['CONSENT_REQUIRED', 'CONSENT_REQUIRED', 'CONSENT_REQUIRED'];
      // The other citizen first, then the protected one, within one second; then the other way round.
      const first = new Date('2026-03-10T08:00:05.100Z');
      const second = new Date('2026-03-10T08:00:06.100Z');
      const later = (at: Date) => new Date(at.getTime() + 800);
      const decisions = (subjectId: string, at: Date) =>
        decide({ subjectId, fields: passportFields }, at, blocked).map((f) => f.decision);
      expect(decisions('199012345678', first)).toEqual(otherDecision);
      expect(decisions('852321234V', later(first))).toEqual(protectedDecision);
      expect(decisions('852321234V', second)).toEqual(protectedDecision);
      expect(decisions('199012345678', later(second))).toEqual(otherDecision);
      const [denied] = decide({ subjectId: '852321234V', fields: passportFields }, later(second), blocked);
      expect(denied).toMatchObject({ decision: 'DENY', reason: 'POLICY_FORBIDS' });
      expect(denied!.policyIds).toContain('protected-citizen');
    },
  );

  it('know which policies read the data subject from Cedar’s JSON form of the policy', () => {
    const reads = (condition: string) => {
      const json = cedar.policyToJson(
        `@id("p") forbid (principal, action, resource) when { context has subject && ${condition} };`,
      );
      if (json.type === 'failure') throw new Error(json.errors[0]!.message);
      return readsSubject(json.json.conditions);
    };
    for (const [, condition] of spellings) expect(reads(condition)).toBe(true);
    // The context as a whole value could carry the subject anywhere: counted as reading it.
    expect(reads('{ c: context }.c.subject == "852321234V"')).toBe(true);
    expect(reads('context == context')).toBe(true);
    // Only whether there is a subject (always part of the memo key), or other context attributes: not read.
    expect(reads('context.purpose == "x"')).toBe(false);
    expect(reads('context.minuteOfDay < 60')).toBe(false);
    expect(seed.readsSubject).toBe(false);
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
