import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser } from 'playwright-core';
import { launchChromium } from '@ndx/service-kit/testing-chromium';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amara, call, startHarness, type Harness } from './support/harness.ts';

const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', 'test-artifacts', 'consent-engine');

let h: Harness;
let browser: Browser;
let consumerApp: Server;
let returnUrl: string;
const returns: URL[] = [];

beforeAll(async () => {
  // The consumer app's return endpoint: a tiny loopback server registered as passport-app's redirect URI.
  consumerApp = createServer((req, res) => {
    returns.push(new URL(req.url ?? '/', returnUrl));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Passport app</title><h1>Back in the passport app</h1>');
  });
  await new Promise<void>((resolve) => consumerApp.listen(0, '127.0.0.1', resolve));
  returnUrl = `http://127.0.0.1:${(consumerApp.address() as AddressInfo).port}/consent/return`;
  h = await startHarness({
    portalClient: 'confidential',
    consumers: {
      'passport-app': {
        displayName: 'DIE Passport application',
        agency: 'Department of Immigration and Emigration',
        redirectUris: [returnUrl],
      },
    },
  });
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await new Promise((resolve) => consumerApp?.close(resolve));
});

describe('consent portal in a real browser', () => {
  it('a demo citizen signs in through FUDI, approves a subset, returns to the app, then revokes from My consents', async () => {
    const oe = await h.oeToken();
    const created = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: {
        citizenId: amara.nic,
        consumerId: 'passport-app',
        purpose: 'passport-application',
        fields: [
          {
            providerKey: 'rgd',
            schemaId: 'rgd-v1',
            field: 'birth.fullName',
            displayName: 'Name at birth',
            description: 'Your full name as registered at birth',
          },
          {
            providerKey: 'rgd',
            schemaId: 'rgd-v1',
            field: 'birth.dateOfBirth',
            displayName: 'Date of birth',
          },
          {
            providerKey: 'drp',
            schemaId: 'drp-v1',
            field: 'person.address',
            displayName: 'Home address',
            description: 'Your registered address',
          },
        ],
      },
    });
    const consentId = created.body.consentId as string;
    const portalUrl = created.body.consentPortalUrl as string;

    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    try {
      await page.goto(`${portalUrl}?redirect_uri=${encodeURIComponent(returnUrl)}&state=browser-state-1`);
      expect(page.url().startsWith(h.fudi.issuer)).toBe(true);
      await page.getByLabel('National identity card number (NIC)').fill(amara.nic);
      await page.getByLabel('Password').fill(amara.password);
      await page.getByRole('button', { name: 'Sign in' }).click();

      await page.getByRole('heading', { name: 'DIE Passport application asks to see your data' }).waitFor();
      expect(page.url().startsWith(`${h.url}/consent/${consentId}`)).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'consent-page.png'), fullPage: true });

      await page.getByLabel('Date of birth').uncheck();
      await page.getByRole('button', { name: 'Share selected' }).click();
      await page.waitForURL((url) => url.href.startsWith(returnUrl));
      const back = new URL(page.url());
      expect(Object.fromEntries(back.searchParams)).toEqual({
        consent_id: consentId,
        status: 'ACTIVE',
        state: 'browser-state-1',
      });
      expect(returns.find((u) => u.pathname === '/consent/return')?.searchParams.get('consent_id')).toBe(
        consentId,
      );

      const record = await call(`${h.url}/v1/consents/${consentId}`, { token: oe });
      const fields = record.body.fields as { field: string; granted: boolean }[];
      expect(Object.fromEntries(fields.map((f) => [f.field, f.granted]))).toEqual({
        'birth.fullName': true,
        'birth.dateOfBirth': false,
        'person.address': true,
      });

      await page.goto(`${h.url}/consent/mine`);
      await page.getByRole('heading', { name: 'My consents' }).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'my-consents.png'), fullPage: true });
      await page.getByRole('button', { name: 'Withdraw consent for DIE Passport application' }).click();
      await page.getByText('Your consent was withdrawn').waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'my-consents-after-revoke.png'), fullPage: true });

      const check = await call(`${h.url}/v1/consents/check`, {
        token: oe,
        body: {
          citizenId: amara.nic,
          consumerId: 'passport-app',
          purpose: 'passport-application',
          fields: [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName' }],
        },
      });
      expect(check.body).toMatchObject({ covered: false });
      expect((await call(`${h.url}/v1/consents/${consentId}`, { token: oe })).body.status).toBe('REVOKED');
    } finally {
      await context.close();
    }
  });
});
