import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from '@ndx/service-kit/testing-chromium';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoOfficers, SecretStore, startStack, type RunningStack } from '@ndx/stack';
import { demoCitizens } from '@ndx/synthetic-data';
import { stackPortOffset } from './support/port-offset.ts';

/**
 * The passport journey end to end, in Debian's Chromium, against the real stack started the way
 * ./init.sh starts it (every service a child process, embedded PostgreSQL, seeded registries and
 * accounts). Applicants and DIE officers sign in to the app with FUDI first. Each step is its own
 * test so a run shows exactly which steps pass; screenshots of each step go to
 * test-artifacts/passport-journey/.
 */

const repoRoot = resolve(import.meta.dirname, '..');
const ARTIFACTS = join(repoRoot, 'test-artifacts', 'passport-journey');
const PORT_OFFSET = Number(process.env.PASSPORT_JOURNEY_PORT_OFFSET ?? stackPortOffset(19_000, 10));

const citizen = (nic: string) => {
  const found = demoCitizens.find((c) => c.nic === nic);
  if (!found) throw new Error(`no demo citizen ${nic}`);
  return found;
};
const amara = citizen('199560201234');
const bwalya = citizen('852321234V');
const esther = citizen('199066604567');
const chipo = citizen('200150500789');
// Daliso Phiri has the stack's seeded consent to the passport app: NDX releases his record at once.
const daliso = citizen('783345678V');
const officer = demoOfficers[0]!;

let workDir: string;
let stack: RunningStack;
let browser: Browser;
let dieDb: pg.Pool;
let auditDb: pg.Pool;
let appUrl: string;
let portalUrl: string;
let fudiUrl: string;
let secretsFile: string;

/** The journey's shared browser: Amara applies for her own passport. */
let journey: { context: BrowserContext; page: Page; applicationId?: string } | undefined;

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return { context, page };
}

/** Sign in on FUDI's own page (reached from the app or the consent portal). */
async function signInAtFudi(page: Page, nic: string, password: string): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(fudiUrl));
  await page.getByLabel('National identity card number (NIC)').fill(nic);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in to the passport app with FUDI from its sign-in page; ends on the start page. */
async function signInToApp(page: Page, account: { nic: string; password: string }): Promise<void> {
  await page.goto(`${appUrl}/`);
  await page.getByRole('button', { name: 'Sign in with FUDI' }).click();
  await signInAtFudi(page, account.nic, account.password);
  await page.getByRole('heading', { name: 'Start a passport application' }).waitFor();
}

/** Start an application for a NIC from the app's start page (signed in). */
async function startApplication(page: Page, nic: string): Promise<void> {
  await page.goto(`${appUrl}/`);
  await page.getByLabel('NIC number').fill(nic);
  await page.getByRole('button', { name: 'Start application' }).click();
}

/** The passport app's own NDX call, made here with its stack credentials: what the API says right now. */
async function askNdxAsPassportApp(
  nic: string,
): Promise<{ errors?: { path?: string[]; extensions?: Record<string, unknown> }[] }> {
  const secret = new SecretStore(secretsFile).get('fudi.client.passport-app');
  const tokenResponse = await fetch(`${fudiUrl}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`passport-app:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'urn:ndx:api' }).toString(),
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const response = await fetch(`${stack.context.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'ndx-purpose': 'passport-application',
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      query: 'query Passport($nic: ID!) { personInfo(nic: $nic) { fullName name dateOfBirth address } }',
      variables: { nic },
    }),
  });
  return (await response.json()) as { errors?: { path?: string[]; extensions?: Record<string, unknown> }[] };
}

/** The end user NDX recorded for the passport app's latest query about a citizen (audit record). */
async function latestEndUser(nic: string): Promise<unknown> {
  const { rows } = await auditDb.query<{ end_user: unknown }>(
    `SELECT end_user FROM audit_log WHERE citizen_id = $1 AND consumer_id = 'passport-app'
      ORDER BY occurred_at DESC, id DESC LIMIT 1`,
    [nic],
  );
  return rows[0]?.end_user;
}

const applicationsAbout = async (nic: string): Promise<number> =>
  (await dieDb.query<{ n: number }>('SELECT count(*)::int AS n FROM applications WHERE nic = $1', [nic]))
    .rows[0]!.n;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  workDir = await mkdtemp(join(tmpdir(), 'ndx-passport-journey-'));
  // The embedded PostgreSQL may run as another user (when started by root): it must reach its folder.
  await chmod(workDir, 0o755);
  secretsFile = join(workDir, 'secrets.json');
  process.env.SEED_CITIZENS = process.env.SEED_CITIZENS ?? '500';
  stack = await startStack({
    repoRoot,
    dataDir: join(workDir, 'data'),
    secretsFile,
    portOffset: PORT_OFFSET,
    logLevel: 'warn',
    print: () => undefined,
    printServiceLog: () => undefined,
  });
  appUrl = stack.context.url('passport-app');
  portalUrl = stack.context.url('consent-engine');
  fudiUrl = stack.context.url('identity-provider');
  dieDb = new pg.Pool({ connectionString: stack.context.databaseUrl('die'), max: 2 });
  auditDb = new pg.Pool({ connectionString: stack.context.databaseUrl('ndx_audit'), max: 2 });
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await journey?.context.close();
  await browser?.close();
  await dieDb?.end();
  await auditDb?.end();
  await stack?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe('nobody is looked up without signing in', () => {
  it('an anonymous session with its CSRF token (the curl attack) gets no personal data about Daliso Phiri', async () => {
    // Daliso has consented to the passport app, so any lookup the app made would release his record.
    const start = await fetch(`${appUrl}/`);
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await start.text())![1]!;
    const before = await applicationsAbout(daliso.nic);
    const response = await fetch(`${appUrl}/applications`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, nic: daliso.nic }).toString(),
    });
    const body = await response.text();
    expect(response.status).toBe(401);
    expect(response.headers.get('location')).toBeNull();
    expect(body).toContain('SIGN_IN_REQUIRED');
    for (const personal of [daliso.dateOfBirth, 'Ilanga District Hospital', 'Plot 221', 'Kondwani']) {
      expect(body).not.toContain(personal);
    }
    expect(await applicationsAbout(daliso.nic)).toBe(before);
  });

  it('an anonymous browser is sent to the sign-in page, which offers FUDI sign-in and no NIC field', async () => {
    const { context, page } = await newPage();
    try {
      // With an anonymous session (as anyone who opened the start page has), then an application's page.
      await page.goto(`${appUrl}/`);
      await page.goto(`${appUrl}/applications/00000000-0000-4000-8000-000000000000`);
      await page.getByRole('button', { name: 'Sign in with FUDI' }).waitFor();
      expect(new URL(page.url()).pathname).toBe('/sign-in');
      expect(await page.getByLabel('NIC number').count()).toBe(0);
      await shot(page, '00-sign-in');
    } finally {
      await context.close();
    }
  });
});

describe('the passport journey in a real browser', () => {
  it('1. Amara Chanda signs in with FUDI, starts her own application, and the app asks for her consent', async () => {
    journey = await newPage();
    const { page } = journey;
    await signInToApp(page, amara);
    await shot(page, '01-start');
    expect(await page.locator('header').innerText()).toContain(`Signed in as Amara Chanda (${amara.nic})`);
    expect(await page.getByLabel('NIC number').inputValue()).toBe(amara.nic);
    await page.getByRole('button', { name: 'Start application' }).click();
    await page.getByRole('heading', { name: 'The applicant’s consent is needed' }).waitFor();
    journey.applicationId = new URL(page.url()).pathname.split('/').pop();
    await shot(page, '02-consent-required');
    expect(await latestEndUser(amara.nic)).toEqual({
      subject: amara.nic,
      role: 'applicant',
      assertedBy: 'passport-app',
    });
  });

  it('2. the app sends her to the consent portal, which signs her in at FUDI', async () => {
    const { page } = journey!;
    await page.getByRole('button', { name: 'Continue to the consent portal' }).click();
    await page.waitForURL((url) => url.href.startsWith(fudiUrl));
    await shot(page, '03-fudi-sign-in');
    await signInAtFudi(page, amara.nic, amara.password);
    await page.waitForURL((url) => url.href.startsWith(`${portalUrl}/consent/`));
    await page.getByRole('button', { name: 'Share all' }).waitFor();
    await shot(page, '04-consent-page');
  });

  it('3. she approves and is back in the app with the form pre-filled from RGD and DRP', async () => {
    const { page } = journey!;
    await page.getByRole('button', { name: 'Share all' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${appUrl}/applications/`));
    await page.getByRole('button', { name: 'Submit application' }).waitFor();
    await shot(page, '05-form-prefilled');
    expect(await page.locator('[data-field="fullName"]').getAttribute('data-source')).toBe('RGD');
    expect(await page.locator('[data-field="dateOfBirth"]').getAttribute('data-source')).toBe('RGD');
    expect(await page.locator('[data-field="address"]').getAttribute('data-source')).toBe('DRP');
    expect(await page.getByLabel('Full name').inputValue()).toBe(amara.birthName);
    expect(await page.getByLabel('Date of birth').inputValue()).toBe(amara.dateOfBirth);
    expect(await page.getByLabel('Sex').inputValue()).toBe(amara.sex);
  });

  it('4. she submits and the application is saved in the die database', async () => {
    const { page, applicationId } = journey!;
    for (const label of ['Place of birth', 'Permanent address']) {
      const field = page.getByLabel(label);
      if ((await field.inputValue()) === '') await field.fill('entered by the applicant');
    }
    await page.getByRole('button', { name: 'Submit application' }).click();
    await page.getByRole('heading', { name: 'Application submitted' }).waitFor();
    await shot(page, '06-submitted');
    const { rows } = await dieDb.query(
      'SELECT nic, status, form, started_by, started_by_role FROM applications WHERE id = $1',
      [applicationId],
    );
    expect(rows[0]).toMatchObject({
      nic: amara.nic,
      status: 'SUBMITTED',
      started_by: amara.nic,
      started_by_role: 'applicant',
    });
    expect(rows[0].form.fullName).toEqual({ value: amara.birthName, provenance: 'RGD' });
    expect(rows[0].form.address.provenance).toBe('DRP');
  });

  it('5. she cannot start an application for Daliso Phiri: refused, and nothing about him is shown', async () => {
    const { page } = journey!;
    const before = await applicationsAbout(daliso.nic);
    await startApplication(page, daliso.nic);
    await page.getByRole('heading', { name: 'This request was refused' }).waitFor();
    await shot(page, '07-other-nic-refused');
    const text = await page.locator('main').innerText();
    expect(text).toContain('NOT_OWN_NIC');
    expect(text).toContain('you can apply for a passport for yourself only');
    for (const personal of [daliso.dateOfBirth, 'Ilanga District Hospital', 'Plot 221']) {
      expect(text).not.toContain(personal);
    }
    expect(await applicationsAbout(daliso.nic)).toBe(before);
  });

  it('6. Amara opens her access log on the portal and sees the passport app’s access', async () => {
    const { page } = journey!;
    const response = await page.goto(`${portalUrl}/consent/mine/access`);
    await shot(page, '08-access-log');
    expect(response?.status(), 'the portal serves /consent/mine/access').toBe(200);
    const text = await page.locator('main').innerText();
    expect(text).toMatch(/DIE Passport application/);
    expect(text).toMatch(/passport-application|passport application/i);
  });

  it('7. she withdraws her consent on My consents', async () => {
    const { page } = journey!;
    await page.goto(`${portalUrl}/consent/mine`);
    await page.getByRole('heading', { name: 'My consents' }).waitFor();
    await page
      .getByRole('button', { name: /Withdraw consent for DIE Passport application/ })
      .first()
      .click();
    await page.getByText('Your consent was withdrawn').waitFor();
    await shot(page, '09-consent-withdrawn');
  });

  it('8. the app’s next fetch is refused with CONSENT_REQUIRED', async () => {
    const { page } = journey!;
    await startApplication(page, amara.nic);
    await page.getByRole('heading', { name: 'The applicant’s consent is needed' }).waitFor();
    await shot(page, '10-consent-required-again');
    const answer = await askNdxAsPassportApp(amara.nic);
    const codes = (answer.errors ?? []).map((e) => e.extensions?.['code']);
    expect(codes).toContain('CONSENT_REQUIRED');
  });

  it('9. she signs out of the app and of FUDI, and the app asks for a sign-in again', async () => {
    const { page } = journey!;
    await page.goto(`${appUrl}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.getByRole('button', { name: 'Sign in with FUDI' }).waitFor();
    await shot(page, '11-signed-out');
    await page.goto(`${appUrl}/applications/${journey!.applicationId}`);
    await page.getByRole('button', { name: 'Sign in with FUDI' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/sign-in');
  });
});

describe('a DIE officer', () => {
  it('signs in with the officer role and starts an application for any NIC: Daliso Phiri’s, pre-filled', async () => {
    const { context, page } = await newPage();
    try {
      await signInToApp(page, officer);
      expect(await page.locator('header').innerText()).toContain('DIE officer');
      await startApplication(page, daliso.nic);
      await page.getByRole('button', { name: 'Submit application' }).waitFor();
      await shot(page, '12-officer-form-prefilled');
      expect(await page.getByLabel('Full name').inputValue()).toBe(daliso.birthName);
      expect(await page.getByLabel('Date of birth').inputValue()).toBe(daliso.dateOfBirth);
      expect(await page.locator('[data-field="address"]').getAttribute('data-source')).toBe('DRP');
      expect(await latestEndUser(daliso.nic)).toEqual({
        subject: officer.nic,
        role: 'officer',
        assertedBy: 'passport-app',
      });
    } finally {
      await context.close();
    }
  });
});

describe('when things do not go to plan', () => {
  it('an officer hands the device to Bwalya Mwansa, who denies consent; the officer completes the form by hand', async () => {
    const { context, page } = await newPage();
    try {
      await signInToApp(page, officer);
      await startApplication(page, bwalya.nic);
      await page.getByRole('button', { name: 'Continue to the consent portal' }).click();
      // FUDI asks for a password at the portal although the officer is signed in: Bwalya signs in there.
      await signInAtFudi(page, bwalya.nic, bwalya.password);
      await page.getByRole('button', { name: 'Do not share' }).click();
      await page
        .getByRole('heading', { name: 'The applicant did not agree to share their details' })
        .waitFor();
      await shot(page, '13-consent-denied');
      await page.getByRole('link', { name: 'Complete the form by hand' }).click();
      await page.getByRole('button', { name: 'Submit application' }).waitFor();
      expect(await page.locator('main').innerText()).toContain('the applicant did not agree to share this');
      expect(await page.locator('header').innerText()).toContain('DIE officer');
      await shot(page, '14-form-after-denial');
    } finally {
      await context.close();
    }
  });

  it('a tampered state on the way back is refused', async () => {
    const { context, page } = await newPage();
    try {
      await signInToApp(page, esther);
      await startApplication(page, esther.nic);
      // Catch the app's redirect to the portal and change one character of its state.
      await page.route(`${appUrl}/applications/*/consent`, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 });
        const location = new URL(response.headers()['location'] ?? '');
        const state = location.searchParams.get('state') ?? '';
        location.searchParams.set('state', state.slice(0, -1) + (state.endsWith('A') ? 'B' : 'A'));
        await route.fulfill({ response, headers: { ...response.headers(), location: location.toString() } });
      });
      await page.getByRole('button', { name: 'Continue to the consent portal' }).click();
      await signInAtFudi(page, esther.nic, esther.password);
      await page.getByRole('button', { name: 'Share all' }).click();
      await page.waitForURL((url) => url.href.startsWith(`${appUrl}/consent/return`));
      await page.getByText('STATE_INVALID').waitFor();
      await shot(page, '15-tampered-state-refused');
    } finally {
      await context.close();
    }
  });

  it('a different citizen signing in is refused by the portal', async () => {
    const { context, page } = await newPage();
    try {
      // The officer starts Chipo Zulu's application; Bwalya Mwansa signs in at the portal.
      await signInToApp(page, officer);
      await startApplication(page, chipo.nic);
      await page.getByRole('button', { name: 'Continue to the consent portal' }).click();
      await signInAtFudi(page, bwalya.nic, bwalya.password);
      await page.waitForURL((url) => url.href.startsWith(`${portalUrl}/consent/`));
      await page
        .getByText(/not your consent/i)
        .first()
        .waitFor();
      await shot(page, '16-other-citizen-refused');
      expect(await page.getByRole('button', { name: 'Share all' }).count()).toBe(0);
    } finally {
      await context.close();
    }
  });
});
