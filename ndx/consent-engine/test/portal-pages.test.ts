import { describe, expect, it } from 'vitest';
import { consentStatuses, type ConsentStatus } from '@ndx/contract';
import type { ConsentRecord } from '../src/consent-lifecycle.ts';
import { consentListPage, consentPage } from '../src/portal/pages.ts';

const consentIn = (status: ConsentStatus): ConsentRecord => ({
  id: `00000000-0000-4000-8000-00000000000${consentStatuses.indexOf(status)}`,
  citizenId: '852321234V',
  consumerId: 'passport-app',
  purpose: 'passport-application',
  purposeText: 'For your passport',
  legalBasis: 'consent',
  noticeVersion: 'n1',
  durationSeconds: 30 * 86_400,
  createdAt: '2026-03-01T09:00:00.000Z',
  decidedAt: status === 'PENDING' ? null : '2026-03-01T09:05:00.000Z',
  grantedAt: null,
  expiresAt: '2026-03-31T09:00:00.000Z',
  revokedAt: status === 'REVOKED' ? '2026-03-05T10:00:00.000Z' : null,
  status,
  fields: [
    {
      providerKey: 'rgd',
      schemaId: 'rgd-v1',
      field: 'a',
      displayName: 'Name',
      granted: status === 'PENDING' ? null : true,
    },
    {
      providerKey: 'rgd',
      schemaId: 'rgd-v1',
      field: 'b',
      displayName: 'Sex',
      granted: status === 'PENDING' ? null : false,
    },
  ],
});

const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
const context = { citizenId: '852321234V', csrfToken: 'csrf-token' };

describe('consent statuses in the portal', () => {
  const list = consentListPage(
    consentStatuses.map((status) => ({ consent: consentIn(status), consumerName: 'Passport app' })),
    context,
  );
  const rows = new Map(
    consentStatuses.map((status) => {
      const row = list.split('<tr>').find((r) => r.includes(`status-${status}"`))!;
      return [status, { text: text(row), html: row }];
    }),
  );

  it.each([
    [
      'PENDING',
      'Passport app For your passport Name, Sex PENDING Request open until 31 March 2026 at 09:00 UTC Answer',
    ],
    ['ACTIVE', 'Passport app For your passport Name ACTIVE Until 31 March 2026 at 09:00 UTC Withdraw'],
    ['REJECTED', 'Passport app For your passport Name REJECTED Ended'],
    ['REVOKED', 'Passport app For your passport Name REVOKED Withdrawn 5 March 2026 at 10:00 UTC'],
    ['EXPIRED', 'Passport app For your passport Name EXPIRED Ended'],
  ] as const)('My consents shows the %s consent as “%s”', (status, shown) => {
    expect(rows.get(status)!.text).toBe(shown);
  });

  it('only an active consent can be withdrawn and only a pending request answered from My consents', () => {
    const controls = consentStatuses.map((status) => {
      const row = rows.get(status)!.html;
      return [
        status,
        row.includes(`action="/consent/mine/${consentIn(status).id}/revoke"`),
        row.includes(`href="/consent/${consentIn(status).id}"`),
      ];
    });
    expect(controls).toEqual([
      ['PENDING', false, true],
      ['ACTIVE', true, false],
      ['REJECTED', false, false],
      ['REVOKED', false, false],
      ['EXPIRED', false, false],
    ]);
  });

  it('each status badge has its colour', () => {
    const colours = consentStatuses.map(
      (s) => new RegExp(`\\.status-${s}\\{color:(#[0-9a-f]{6})\\}`).exec(list)?.[1],
    );
    expect(colours).toEqual(['#7a4d00', '#1e6b2f', '#a4161a', '#a4161a', '#4a4f57']);
  });

  it('the request page offers a decision only while pending, and names the end date only once active', () => {
    const pages = consentStatuses.map((status) => {
      const page = consentPage(
        {
          consent: consentIn(status),
          consumerName: 'Passport app',
          consumerAgency: 'DIE',
          agencyOf: (k) => k,
        },
        context,
      );
      return [
        status,
        /For how long<\/dt>\s*<dd>\s*([^<]*?)\s*<\/dd>/.exec(page)?.[1]?.replace(/\s+/g, ' '),
        page.includes(`action="/consent/${consentIn(status).id}/decision"`),
        page.includes('This request has already been answered or has ended'),
      ];
    });
    expect(pages).toEqual([
      ['PENDING', '30 days from the moment you approve', true, false],
      ['ACTIVE', 'Until 31 March 2026 at 09:00 UTC', false, true],
      ['REJECTED', '30 days from the moment you approve', false, true],
      ['REVOKED', '30 days from the moment you approve', false, true],
      ['EXPIRED', '30 days from the moment you approve', false, true],
    ]);
  });
});
