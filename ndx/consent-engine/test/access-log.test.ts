import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditWriter, migrateAudit, type AuditRecordInput } from '@ndx/audit';
import { createPool } from '@ndx/service-kit';
import { createTestDatabase, freePort, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import {
  browse,
  CookieJar,
  csrfOf,
  submitFudiLogin,
  type Landing,
} from '@ndx/identity-provider/testing-browser';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { amara, bwalya, call, startHarness, type Harness } from './support/harness.ts';

const PAGE_SIZE = 3;
const rgdName = { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName' };
const drpAddress = { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.address' };
const drpProfession = { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.profession' };
const drpOccupationCode = { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.occupationCode' };

let h: Harness;
let auditDb: TestDatabase;
let auditPool: ReturnType<typeof createPool>;
/** Amara's session (signed in through FUDI while answering her consent request). */
const amaraJar = new CookieJar();
let consentId: string;
/** References of the records written, oldest first. */
const amaraTraces: string[] = [];
const bwalyaTraces: string[] = [];
/** The audit id of amara's newest record. */
let amaraNewestId = 0;

function passportAccess(citizenId: string, overrides: Partial<AuditRecordInput> = {}): AuditRecordInput {
  return {
    reference: randomUUID(),
    traceId: randomUUID().replaceAll('-', ''),
    consumerId: 'passport-app',
    purpose: 'passport-application',
    citizenId,
    operationName: 'PassportApplication',
    fieldsRequested: [rgdName, drpAddress, drpProfession],
    fieldsReleased: [rgdName, drpAddress],
    fieldsWithheld: [{ ...drpProfession, reason: 'FORBIDDEN' }],
    outcome: 'PARTIAL',
    ...overrides,
  };
}

/** The "Reference <audit reference>" of each access on a page, in page order. */
const referencesOn = (page: string) =>
  [...page.matchAll(/Reference ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/g)].map(
    (m) => m[1]!,
  );
const olderLinkOf = (page: string) =>
  /href="(\/consent\/mine\/access\?before=\d+)" rel="next"/.exec(page)?.[1];

async function signIn(jar: CookieJar, url: string, citizen: typeof amara): Promise<Landing> {
  const login = await browse(jar, url);
  expect(login.url.startsWith(h.fudi.issuer)).toBe(true);
  return submitFudiLogin(jar, login, citizen.nic, citizen.password);
}

beforeAll(async () => {
  auditDb = await createTestDatabase('audit_log_view');
  auditPool = createPool(auditDb.url, testLogger());
  await migrateAudit(auditPool);
  h = await startHarness({
    env: { AUDIT_DATABASE_URL: auditDb.url, ACCESS_LOG_PAGE_SIZE: String(PAGE_SIZE) },
  });

  // Amara consents (through the portal) to the passport app seeing her name and address.
  const created = await call(`${h.url}/v1/consents`, {
    token: await h.oeToken(),
    body: {
      citizenId: amara.nic,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [
        { ...rgdName, displayName: 'Name at birth' },
        { ...drpAddress, displayName: 'Home address' },
      ],
    },
  });
  expect(created.status).toBe(201);
  consentId = created.body.consentId as string;
  const consentPage = await signIn(amaraJar, `${h.url}/consent/${consentId}`, amara);
  expect(consentPage.status).toBe(200);
  const decided = await browse(amaraJar, `${h.url}/consent/${consentId}/decision`, {
    method: 'POST',
    form: { csrf: csrfOf(consentPage.text), action: 'approve-all' },
  });
  expect(decided.text).toContain('consent given');

  // The audit log, as the OE writes it: five accesses to amara's data, two to bwalya's, interleaved.
  const writer = createAuditWriter(auditPool, testLogger());
  const start = Date.parse('2026-03-01T09:00:00Z');
  for (let i = 0; i < 7; i++) {
    const forBwalya = i === 1 || i === 4;
    const citizenId = forBwalya ? bwalya.nic : amara.nic;
    const record =
      i === 6
        ? passportAccess(citizenId, {
            consumerId: 'traffic-police-app',
            purpose: 'traffic-enforcement',
            fieldsRequested: [drpAddress],
            fieldsReleased: [],
            fieldsWithheld: [{ ...drpAddress, reason: 'CONSENT_REQUIRED' }],
            outcome: 'CONSENT_REQUIRED',
          })
        : passportAccess(
            citizenId,
            forBwalya
              ? {}
              : {
                  consentId,
                  fieldsReleased: [rgdName, drpAddress].map((f) => ({
                    ...f,
                    allowedBy: { basis: 'consent' as const, consentId },
                  })),
                },
          );
    const written = await writer.append({ ...record, occurredAt: new Date(start + i * 3_600_000) });
    (forBwalya ? bwalyaTraces : amaraTraces).push(record.reference!);
    if (!forBwalya) amaraNewestId = written.id;
  }
  await writer.close();
});

afterAll(async () => {
  await h?.stop();
  await auditPool?.end();
  await auditDb?.drop();
});

describe('citizen access log', () => {
  it('sends a visitor who is not signed in to FUDI sign-in, and back to the access log afterwards', async () => {
    const response = await fetch(`${h.url}/consent/mine/access`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')!.startsWith(`${h.fudi.issuer}/`)).toBe(true);

    const jar = new CookieJar();
    const landing = await signIn(jar, `${h.url}/consent/mine/access`, bwalya);
    expect(landing.url).toBe(`${h.url}/consent/mine/access`);
    expect(landing.status).toBe(200);
    expect(landing.text).toContain('Who accessed my data');
  });

  it('shows the signed-in citizen their accesses newest first: when, which app and agency, why, what was shared and what was not and why', async () => {
    const page = await browse(amaraJar, `${h.url}/consent/mine/access`);
    expect(page.status).toBe(200);
    expect(referencesOn(page.text)).toEqual(amaraTraces.slice().reverse().slice(0, PAGE_SIZE));

    const [newest, second] = page.text.split('<li class="card access">').slice(1);
    // The newest: the traffic police asked for her address, and got nothing without her consent.
    expect(newest).toContain('datetime="2026-03-01T15:00:00.000Z"');
    expect(newest).toContain('1 March 2026 at 15:00 UTC');
    expect(newest).toContain('DMT Traffic police, Department of Motor Traffic');
    expect(newest).toContain('To enforce traffic law (vehicle ownership checks)');
    expect(newest).toContain('Nothing was shared: you were asked for your consent.');
    expect(newest).not.toContain('<dt>Shared</dt>');
    expect(newest).toContain('Home address: not shared: your consent was needed and had not been given');
    // An earlier passport access, under her consent: display names from the consent, agencies by provider.
    expect(second).toContain('DIE Passport application, Department of Immigration and Emigration');
    expect(second).toContain('To check your identity and civil details for your passport application');
    expect(second).toContain('Some of what was asked for was shared.');
    expect(second).toMatch(
      /<dt>Allowed by<\/dt>\s*<dd>\s*<ul class="allowed-by">\s*<li>The consent you gave on [^<]*: Name at birth, Home address<\/li>\s*<\/ul>/,
    );
    expect(second).toMatch(
      /<dt>Shared<\/dt>[\s\S]*Registrar General&#39;s Department \(births\)[\s\S]*Name at birth/,
    );
    expect(second).toMatch(
      /<dt>Shared<\/dt>[\s\S]*Department for Registration of Persons[\s\S]*Home address/,
    );
    // A field the CE has no display name for is named readably, with the reason in plain words.
    expect(second).toContain('Profession: not allowed: the rules do not let this app see it');
    expect(page.text).toContain('<a href="/consent/mine/access">Who accessed my data</a>');
  });

  it('pages through older accesses with a keyset cursor until the oldest, without repeats or gaps', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/consent/mine/access';
    let pages = 0;
    while (url && pages < 10) {
      const page = await browse(amaraJar, `${h.url}${url}`);
      expect(page.status).toBe(200);
      if (pages > 0) expect(page.text).toContain('href="/consent/mine/access">Newest</a>');
      seen.push(...referencesOn(page.text));
      url = olderLinkOf(page.text)?.replaceAll('&amp;', '&');
      pages += 1;
    }
    expect(pages).toBe(2);
    expect(seen).toEqual(amaraTraces.slice().reverse());
  });

  it('shows a citizen only their own accesses, whatever the query string says', async () => {
    const jar = new CookieJar();
    await signIn(jar, `${h.url}/consent/mine`, bwalya);
    const own = await browse(jar, `${h.url}/consent/mine/access`);
    expect(referencesOn(own.text)).toEqual(bwalyaTraces.slice().reverse());

    const crafted = await browse(
      jar,
      `${h.url}/consent/mine/access?nic=${amara.nic}&citizen=${amara.nic}&citizenId=${amara.nic}&before=${amaraNewestId + 1}`,
    );
    expect(crafted.status).toBe(200);
    expect(referencesOn(crafted.text)).toEqual(bwalyaTraces.slice().reverse());
    for (const trace of amaraTraces) expect(crafted.text).not.toContain(trace);
    expect(crafted.text).not.toContain(amara.nic);

    const bad = await browse(jar, `${h.url}/consent/mine/access?before=abc`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('This page link is not valid.');
  });

  describe('when the audit log cannot be read', () => {
    const others: FastifyInstance[] = [];
    afterAll(async () => {
      await Promise.all(others.map((app) => app.close()));
    });

    /** Another CE on the same consent database (so amara's session works there) with other audit settings. */
    async function ceWith(env: Record<string, string>): Promise<string> {
      const port = await freePort();
      const app = await buildApp(
        readConfig({
          DATABASE_URL: h.databaseUrl,
          PORT: String(port),
          FUDI_ISSUER: h.fudi.issuer,
          CONSENT_PORTAL_PUBLIC_URL: `http://127.0.0.1:${port}`,
          CONSENT_SWEEP_INTERVAL_SECONDS: '0',
          ...env,
        }),
        testLogger('consent-engine'),
      );
      others.push(app);
      await app.listen({ port, host: '127.0.0.1' });
      return `http://127.0.0.1:${port}`;
    }

    it('says the log is unavailable (503) when the audit database does not answer, and stays ready', async () => {
      const deadPort = await freePort();
      const url = await ceWith({
        AUDIT_DATABASE_URL: `postgres://nobody:nothing@127.0.0.1:${deadPort}/ndx_audit`,
      });
      const page = await browse(amaraJar, `${url}/consent/mine/access`);
      expect(page.status).toBe(503);
      expect(page.text).toContain('Access log unavailable');
      expect(page.text).toContain('cannot be shown right now');
      expect(page.text).toContain('Signed in as');
      expect((await fetch(`${url}/ready`)).status).toBe(200);
    });

    it('says the log is unavailable (503) when no audit database is configured', async () => {
      const url = await ceWith({});
      const page = await browse(amaraJar, `${url}/consent/mine/access`);
      expect(page.status).toBe(503);
      expect(page.text).toContain('Access log unavailable');
    });
  });
});

describe('what allowed each shared field, and who asked', () => {
  let attributionDb: TestDatabase;
  let attributionPool: ReturnType<typeof createPool>;
  let ce: FastifyInstance;
  let ceUrl: string;
  let requestedId: string;
  const refs = {
    partial: randomUUID(),
    nothingShared: randomUUID(),
    oldFormat: randomUUID(),
    oldFormatGrantedLater: randomUUID(),
    oldFormatGranted: randomUUID(),
    otherApplicant: randomUUID(),
  };

  beforeAll(async () => {
    // A consent request amara has not answered: NDX asked for it, it allowed nothing.
    const requested = await call(`${h.url}/v1/consents`, {
      token: await h.oeToken(),
      body: {
        citizenId: amara.nic,
        consumerId: 'passport-app',
        purpose: 'passport-application',
        fields: [{ ...drpProfession, displayName: 'Profession' }],
      },
    });
    expect(requested.status).toBe(201);
    requestedId = requested.body.consentId as string;

    attributionDb = await createTestDatabase('audit_log_attribution');
    attributionPool = createPool(attributionDb.url, testLogger());
    await migrateAudit(attributionPool);
    const writer = createAuditWriter(attributionPool, testLogger());
    const withheldProfession = [{ ...drpProfession, reason: 'CONSENT_REQUIRED' as const }];
    // Oldest first: shown newest first.
    await writer.append(
      passportAccess(amara.nic, {
        reference: refs.partial,
        endUser: { subject: amara.nic, role: 'applicant' },
        fieldsRequested: [rgdName, drpAddress, drpOccupationCode, drpProfession],
        fieldsReleased: [
          { ...rgdName, allowedBy: { basis: 'consent', consentId } },
          { ...drpAddress, allowedBy: { basis: 'policy', policyIds: ['grant'], legalBasis: 'consent' } },
          {
            ...drpOccupationCode,
            allowedBy: { basis: 'policy', policyIds: ['grant'], legalBasis: 'legal-obligation' },
          },
        ],
        fieldsWithheld: withheldProfession,
        consentId,
        consentRequested: requestedId,
        outcome: 'PARTIAL',
      }),
    );
    await writer.append(
      passportAccess(amara.nic, {
        reference: refs.nothingShared,
        endUser: { subject: 'die-officer-17', role: 'officer' },
        fieldsRequested: [drpProfession],
        fieldsReleased: [],
        fieldsWithheld: withheldProfession,
        consentRequested: requestedId,
        outcome: 'CONSENT_REQUIRED',
      }),
    );
    // As format 1 recorded a partial release: no attribution per field, consentId naming the request.
    await writer.append(
      passportAccess(amara.nic, {
        reference: refs.oldFormat,
        fieldsReleased: [rgdName],
        fieldsWithheld: withheldProfession,
        consentId: requestedId,
        outcome: 'PARTIAL',
      }),
    );
    // As format 1 named a request the citizen approved only after the access (here: her consent, given
    // an hour after this access): it allowed nothing at the time.
    const read = await call(`${h.url}/v1/consents/${consentId}`, { token: await h.oeToken() });
    const given = Date.parse(read.body.grantedAt as string);
    expect(given).toBeGreaterThan(0);
    await writer.append(
      passportAccess(amara.nic, {
        reference: refs.oldFormatGrantedLater,
        occurredAt: new Date(given - 3_600_000),
        fieldsReleased: [rgdName],
        consentId,
        outcome: 'PARTIAL',
      }),
    );
    // As format 1 named the consent an access ran under, given before it: shown.
    await writer.append(
      passportAccess(amara.nic, {
        reference: refs.oldFormatGranted,
        occurredAt: new Date(given + 1_000),
        fieldsReleased: [rgdName],
        fieldsWithheld: [],
        consentId,
        outcome: 'SUCCESS',
      }),
    );
    await writer.append(
      passportAccess(amara.nic, {
        reference: refs.otherApplicant,
        endUser: { subject: bwalya.nic, role: 'applicant' },
        fieldsReleased: [{ ...rgdName, allowedBy: { basis: 'consent', consentId } }],
        fieldsWithheld: [],
        consentId,
        outcome: 'SUCCESS',
      }),
    );
    await writer.close();

    // A CE on the same consent database (amara's session works there) reading this audit log.
    const port = await freePort();
    ce = await buildApp(
      readConfig({
        DATABASE_URL: h.databaseUrl,
        PORT: String(port),
        FUDI_ISSUER: h.fudi.issuer,
        CONSENT_PORTAL_PUBLIC_URL: `http://127.0.0.1:${port}`,
        CONSENT_SWEEP_INTERVAL_SECONDS: '0',
        AUDIT_DATABASE_URL: attributionDb.url,
        ACCESS_LOG_PAGE_SIZE: '10',
      }),
      testLogger('consent-engine'),
    );
    await ce.listen({ port, host: '127.0.0.1' });
    ceUrl = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await ce?.close();
    await attributionPool?.end();
    await attributionDb?.drop();
  });

  /** amara's access log, one card per access keyed by its reference. */
  async function cards(): Promise<Record<keyof typeof refs, string>> {
    const page = await browse(amaraJar, `${ceUrl}/consent/mine/access`);
    expect(page.status).toBe(200);
    const list = page.text.split('<li class="card access">').slice(1);
    expect(list.map((card) => referencesOn(card)[0])).toEqual([
      refs.otherApplicant,
      refs.oldFormatGranted,
      refs.oldFormatGrantedLater,
      refs.oldFormat,
      refs.nothingShared,
      refs.partial,
    ]);
    const [otherApplicant, oldFormatGranted, oldFormatGrantedLater, oldFormat, nothingShared, partial] =
      list as [string, string, string, string, string, string];
    return { otherApplicant, oldFormatGranted, oldFormatGrantedLater, oldFormat, nothingShared, partial };
  }

  it('names, for a partial release, the consent that allowed each shared field, the rules or the law for the rest, and says the rest was asked for', async () => {
    const { partial } = await cards();
    expect(partial).toContain('Some of what was asked for was shared.');
    expect(partial).toContain('You were asked for your consent to the rest.');
    expect(partial).toMatch(/<li>The consent you gave on [^<]*UTC: Name at birth<\/li>/);
    expect(partial).toContain('<li>The data-sharing rules, without needing your consent: Home address</li>');
    expect(partial).toContain(
      '<li>The law (legal obligation), without needing your consent: Occupation code</li>',
    );
    expect(partial).toContain('Profession: not shared: your consent was needed and had not been given');
    expect(partial).not.toContain(requestedId);
  });

  it('never says a consent allowed an access where nothing was shared, nor names a request that was only asked for', async () => {
    const { nothingShared, oldFormat } = await cards();
    expect(nothingShared).toContain('Nothing was shared: you were asked for your consent.');
    expect(nothingShared).not.toContain('Allowed by');
    expect(nothingShared).not.toContain('consent you gave');
    expect(nothingShared).not.toContain('to the rest');
    // A format 1 record naming the request opened for the missing fields: that request allowed nothing.
    expect(oldFormat).toContain('<dt>Shared</dt>');
    expect(oldFormat).not.toContain('Allowed by');
    expect(oldFormat).not.toContain('consent you gave');
  });

  it('shows the consent a format 1 record names only when it had been given by the time of the access', async () => {
    const { oldFormatGrantedLater, oldFormatGranted } = await cards();
    expect(oldFormatGrantedLater).toContain('<dt>Shared</dt>');
    expect(oldFormatGrantedLater).not.toContain('Allowed by');
    expect(oldFormatGrantedLater).not.toContain('consent you gave');
    expect(oldFormatGranted).toMatch(/<li>The consent you gave on [^<]*UTC: Name at birth<\/li>/);
  });

  it('says whether the applicant (her), another applicant or an officer asked, as the app reported it', async () => {
    const { partial, nothingShared, otherApplicant, oldFormat } = await cards();
    expect(partial).toMatch(
      /<dt>Asked by<\/dt>\s*<dd>The applicant \(you\) <span class="hint">\(as the app reported it\)/,
    );
    expect(nothingShared).toContain('An officer of the Department of Immigration and Emigration');
    expect(nothingShared).not.toContain('die-officer-17');
    expect(otherApplicant).toContain('An applicant other than you');
    expect(otherApplicant).not.toContain('(you)');
    expect(oldFormat).not.toContain('Asked by');
  });
});
