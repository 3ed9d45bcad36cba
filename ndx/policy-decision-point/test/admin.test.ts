import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startHarness, startPdp, type Harness } from './support/pdp-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('pdp_admin');
});
afterAll(async () => {
  await h?.stop();
});

const drp = (field: string) => ({ providerKey: 'drp', schemaId: 'drp-schema-v1', field });
const dmt = (field: string) => ({ providerKey: 'dmt', schemaId: 'dmt-schema-v1', field });

const admin = (path: string, body?: unknown, method?: string) =>
  call(h.pdp.url, `/admin/v1${path}`, { token: h.tokens.operator, body, ...(method ? { method } : {}) });
const decide = (body: unknown, baseUrl = h.pdp.url) =>
  call(baseUrl, '/v1/decisions', { token: h.tokens.oe, body });
const passportNic = {
  consumerId: 'passport-app',
  purpose: 'passport-application',
  subjectId: '199012345678',
  fields: [drp('person.nic')],
};
const trafficMake = {
  consumerId: 'traffic-police-app',
  purpose: 'traffic-enforcement',
  fields: [dmt('vehicle.make')],
};

async function activeVersion(): Promise<number> {
  return (await admin('/versions')).body.activeVersion;
}

/** A new (inactive) version that changes the passport grant's expiry. */
async function newGrantVersion(expiresAt: string, why: string, activate = false): Promise<number> {
  const grants = (await admin('/grants')).body.grants as {
    consumerId: string;
    purpose: string;
    fields: unknown[];
  }[];
  const grant = grants.find((g) => g.consumerId === 'passport-app')!;
  const { status, body } = await admin(
    '/grants/passport-app/passport-application',
    { reason: why, fields: grant.fields, legalBasis: 'consent', expiresAt, activate },
    'PUT',
  );
  expect(status).toBe(201);
  return body.version;
}

describe('operator access', () => {
  it('refuses a consumer token (401), a PDP token without the admin scope (403) and a non-operator client (403)', async () => {
    expect((await call(h.pdp.url, '/admin/v1/versions')).status).toBe(401);
    expect((await call(h.pdp.url, '/admin/v1/versions', { token: h.tokens.consumer })).status).toBe(401);
    expect((await call(h.pdp.url, '/admin/v1/versions', { token: h.tokens.oe })).status).toBe(403);
    expect(
      (await call(h.pdp.url, '/admin/v1/versions', { token: h.tokens.operatorWithoutScope })).status,
    ).toBe(403);
    expect((await call(h.pdp.url, '/admin/v1/versions', { token: h.tokens.stranger })).status).toBe(403);
    expect((await admin('/versions')).status).toBe(200);
  });

  it('lists the seeded field metadata, consumers, grants and policies', async () => {
    const fields = (await admin('/fields')).body;
    expect(fields.version).toBe(1);
    expect(fields.fields).toContainEqual(
      expect.objectContaining({
        ...dmt('vehicleClasses.className'),
        classification: 'public',
        consentRequired: false,
      }),
    );
    const grants = (await admin('/grants')).body.grants;
    expect(grants.find((g: { consumerId: string }) => g.consumerId === 'traffic-police-app')).toMatchObject({
      legalBasis: 'legal-obligation',
      window: { start: '06:00', end: '22:00' },
    });
    expect((await admin('/consumers')).body.consumers).toHaveLength(2);
    expect((await admin('/policies')).body.policyIds).toEqual([
      'grant',
      'personal-data-needs-consent',
      'consent-needs-a-data-subject',
      'grant-time-window',
    ]);
  });
});

describe('versions, activation and rollback', () => {
  it('keeps a change inactive until activated, and rolls back in one call', async () => {
    const before = await activeVersion();
    const expired = await newGrantVersion('2026-01-01T00:00:00Z', 'grant ended early');
    expect(await activeVersion()).toBe(before);
    expect((await decide(passportNic)).body).toMatchObject({
      policyVersion: before,
      fields: [{ decision: 'CONSENT_REQUIRED' }],
    });

    const activation = await admin(`/versions/${expired}/activate`, { reason: 'apply the early end' });
    expect(activation.status).toBe(200);
    expect(activation.body).toMatchObject({
      version: expired,
      previousVersion: before,
      kind: 'activate',
      activatedBy: 'ndx-operator',
    });
    const after = await decide(passportNic);
    expect(after.body).toMatchObject({
      policyVersion: expired,
      fields: [{ decision: 'DENY', reason: 'GRANT_EXPIRED' }],
    });

    const back = await admin('/rollback', { reason: 'ended by mistake' });
    expect(back.body).toMatchObject({ version: before, previousVersion: expired, kind: 'rollback' });
    expect((await decide(passportNic)).body).toMatchObject({
      policyVersion: before,
      fields: [{ decision: 'CONSENT_REQUIRED' }],
    });

    const versions = (await admin('/versions')).body.versions;
    expect(versions.find((v: { version: number }) => v.version === expired)).toMatchObject({
      basedOn: before,
      createdBy: 'ndx-operator',
      reason: 'grant ended early',
      change: 'grant passport-app/passport-application set',
      active: false,
    });
    const history = (await admin('/activations')).body.activations;
    expect(history.slice(0, 2).map((a: { kind: string; reason: string }) => [a.kind, a.reason])).toEqual([
      ['rollback', 'ended by mistake'],
      ['activate', 'apply the early end'],
    ]);
  });

  it('serialises concurrent activations: every one is recorded against the version it replaced', async () => {
    const candidates: number[] = [];
    for (let i = 0; i < 4; i++)
      candidates.push(await newGrantVersion(`2029-0${i + 1}-01T00:00:00Z`, `candidate ${i}`));
    const results = await Promise.all(
      candidates.map((v) => admin(`/versions/${v}/activate`, { reason: `race ${v}` })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const history = (await admin('/activations')).body.activations.slice(0, 4).reverse() as {
      version: number;
      previousVersion: number;
    }[];
    for (let i = 1; i < history.length; i++)
      expect(history[i]!.previousVersion).toBe(history[i - 1]!.version);
    expect(await activeVersion()).toBe(history[3]!.version);
    expect((await decide(passportNic)).body.policyVersion).toBe(history[3]!.version);
  });

  it('lets exactly one of several activations expecting the same active version win (409 for the others)', async () => {
    const current = await activeVersion();
    const a = await newGrantVersion('2029-06-01T00:00:00Z', 'option a');
    const b = await newGrantVersion('2029-07-01T00:00:00Z', 'option b');
    const c = await newGrantVersion('2029-08-01T00:00:00Z', 'option c');
    const results = await Promise.all(
      [a, b, c].map((v) =>
        admin(`/versions/${v}/activate`, { reason: 'race', expectedActiveVersion: current }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409]);
    expect(results.find((r) => r.status === 409)!.body.error.code).toBe('CONFLICT');
  });

  it('answers 404 for a version that does not exist', async () => {
    expect((await admin('/versions/9999/activate', { reason: 'nope' })).status).toBe(404);
  });
});

describe('policy changes', () => {
  it("rejects an invalid policy with Cedar's message and stores nothing", async () => {
    const versionsBefore = (await admin('/versions')).body.versions.length;
    const policies = (await admin('/policies')).body.policies as string;
    const bad = `${policies}\n@id("typo")\npermit (principal, action, resource) when { resource.clasification == "public" };`;
    const { status, body } = await admin('/policies', { reason: 'typo', policies: bad }, 'PUT');
    expect(status).toBe(422);
    expect(body.error.code).toBe('POLICY_INVALID');
    expect(body.error.details.problems[0]).toMatchObject({ policyId: 'typo' });
    expect(body.error.details.problems[0].message).toMatch(
      /attribute `clasification` on entity type `Ndx::ProviderField` not found/,
    );
    expect(body.error.details.problems[0].help).toMatch(/classification/);
    expect((await admin('/versions')).body.versions.length).toBe(versionsBefore);

    const validated = await admin('/policies/validate', { policies: bad });
    expect(validated.body).toMatchObject({ valid: false });
    expect((await admin('/policies/validate', { policies })).body).toMatchObject({ valid: true });
  });

  it('blocks a consumer at once with an emergency forbid, and restores it by rollback', async () => {
    expect((await decide(trafficMake)).body.fields[0].decision).toBe('PERMIT');
    const policies = (await admin('/policies')).body.policies as string;
    const emergency = `${policies}\n@id("emergency-stop-traffic-police")\nforbid (principal == Ndx::Consumer::"traffic-police-app", action, resource);`;
    const change = await admin(
      '/policies',
      { reason: 'compromised credentials', policies: emergency, activate: true },
      'PUT',
    );
    expect(change.status).toBe(201);
    expect(change.body).toMatchObject({ active: true });
    const blocked = (await decide(trafficMake)).body;
    expect(blocked.policyVersion).toBe(change.body.version);
    expect(blocked.fields[0]).toMatchObject({ decision: 'DENY', reason: 'POLICY_FORBIDS' });
    expect(blocked.fields[0].policyIds).toContain('emergency-stop-traffic-police');
    expect((await decide(passportNic)).body.fields[0].decision).toBe('CONSENT_REQUIRED');

    await admin('/rollback', { reason: 'credentials rotated' });
    expect((await decide(trafficMake)).body.fields[0].decision).toBe('PERMIT');
  });

  it('changes field metadata as a new version (a field made public needs no consent)', async () => {
    const { status, body } = await admin(
      '/fields/drp/drp-schema-v1/person.profession',
      {
        reason: 'profession is public',
        displayName: 'Profession',
        classification: 'public',
        owner: 'drp',
        consentRequired: false,
      },
      'PUT',
    );
    expect(status).toBe(201);
    const dry = await admin('/dry-run', {
      version: body.version,
      request: { ...passportNic, fields: [drp('person.profession')] },
    });
    expect(dry.body.fields[0]).toMatchObject({
      decision: 'PERMIT',
      explain: { read: { allowed: true, determiningPolicies: ['grant'] } },
    });
  });

  it('refuses a grant naming a field that has no metadata', async () => {
    const { status, body } = await admin(
      '/grants/passport-app/passport-application',
      { reason: 'typo', fields: [drp('person.shoeSize')], legalBasis: 'consent' },
      'PUT',
    );
    expect(status).toBe(422);
    expect(body.error.details.problems[0].message).toMatch(
      /unknown field drp\/drp-schema-v1\/person.shoeSize/,
    );
  });
});

describe('dry run', () => {
  it('explains a decision against any version at any time', async () => {
    const { status, body } = await admin('/dry-run', {
      version: 1,
      at: '2026-03-10T21:00:00Z',
      request: { ...trafficMake, fields: [dmt('vehicle.make')] },
    });
    expect(status).toBe(200);
    expect(body.policyVersion).toBe(1);
    expect(body.context).toMatchObject({
      purpose: 'traffic-enforcement',
      minuteOfDay: 23 * 60,
      date: '2026-03-10',
    });
    expect(body.fields[0]).toMatchObject({
      decision: 'DENY',
      explain: {
        read: { allowed: false, determiningPolicies: ['grant-time-window'] },
        readWithConsent: { allowed: false },
      },
    });
  });
});

describe('several PDP processes', () => {
  it('a second process follows an activation made through the first (LISTEN/NOTIFY)', async () => {
    // The second process checks the database only every 10 minutes: only the notification can move it.
    const second = await startPdp({
      fudi: h.fudi,
      databaseUrl: h.database.url,
      clock: () => h.clock.now,
      env: { POLICY_REFRESH_MS: '600000' },
    });
    try {
      const before = await activeVersion();
      expect((await decide(passportNic, second.url)).body.policyVersion).toBe(before);
      const next = await newGrantVersion('2029-12-01T00:00:00Z', 'multi-process', true);
      let seen = before;
      for (let i = 0; i < 50 && seen !== next; i++) {
        seen = (await decide(passportNic, second.url)).body.policyVersion;
        if (seen !== next) await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen).toBe(next);
    } finally {
      await second.close();
    }
  });
});
