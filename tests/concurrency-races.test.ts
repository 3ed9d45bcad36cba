import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTransition, initialConsentStatus, type ConsentEvent, type ConsentStatus } from '@ndx/contract';
import { citizenAccessToken } from '@ndx/identity-provider/testing-browser';
import { demoCitizens } from '@ndx/synthetic-data';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/**
 * Races on the same records through the services' real APIs. At the CE: 100 concurrent approvals, denials,
 * revocations, coverage checks and reads of the same few consents (citizens deciding with their portal tokens,
 * the OE revoking and checking with its service token), and 100 concurrent create-or-reuse requests for the
 * same fields with an approval among them. At the PDP: 100 concurrent activations of competing policy versions.
 * Each ends in a valid state: every consent's history is a walk of the contract's state machine whose last step
 * is its status, with one event per change that succeeded; exactly one policy version is active, and the
 * activation history is one unbroken chain that ends at it.
 *
 * The operations are shuffled with a seeded generator; a failure prints the seed (RACE_SEED=… to replay the
 * same order; the interleaving itself is the machine's).
 */

const SEED = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000);
const CONSUMER = { consumerId: 'passport-app', purpose: 'passport-application' };
const RGD = { providerKey: 'rgd', schemaId: 'abc-212' };
const FIELDS = ['getPersonInfo.fullName', 'getPersonInfo.dateOfBirth', 'getPersonInfo.placeOfBirth'];

let t: TestStack;
let serviceToken: string;
/** Portal tokens (consent-portal client, CE audience) of citizens without a second factor. */
const citizenTokens = new Map<string, string>();
const citizens = demoCitizens.filter((c) => !c.totpSecret).slice(0, 2);

beforeAll(async () => {
  t = await startTestStack({ only: ['policy-decision-point', 'consent-engine'] });
  serviceToken = await t.clientToken('orchestration-engine', 'urn:ndx:consent');
  for (const citizen of citizens) {
    citizenTokens.set(
      citizen.nic,
      await citizenAccessToken({
        issuer: t.url('identity-provider'),
        clientId: 'consent-portal',
        redirectUri: `${t.url('consent-engine')}/auth/callback`,
        nic: citizen.nic,
        password: citizen.password,
      }),
    );
  }
}, 240_000);

afterAll(async () => {
  await t?.stop();
});

/** mulberry32: a small seeded generator, so that a failing order can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  service: 'consent-engine' | 'policy-decision-point',
  method: 'GET' | 'POST',
  path: string,
  token: string,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${t.url(service)}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const errorCode = (answer: Answer) => (answer.body['error'] as { code?: string } | undefined)?.code;

/** A service's logged errors (its log file), to say why it answered 5xx when a check below fails. */
async function loggedErrors(service: 'consent-engine' | 'policy-decision-point'): Promise<string> {
  const text = await readFile(join(t.logDir, `${service}.log`), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.includes('"level":50'))
    .slice(0, 5)
    .join('\n');
}

function requestBody(nic: string, fields: string[]) {
  return { citizenId: nic, ...CONSUMER, fields: fields.map((field) => ({ ...RGD, field })) };
}

async function openRequest(nic: string, fields: string[]): Promise<string> {
  const answer = await call('consent-engine', 'POST', '/v1/consents', serviceToken, requestBody(nic, fields));
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body['consentId'] as string;
}

async function consentWithEvents(id: string): Promise<{ status: ConsentStatus; events: ConsentEvent[] }> {
  const answer = await call('consent-engine', 'GET', `/v1/consents/${id}`, serviceToken);
  expect(answer.status).toBe(200);
  return answer.body as unknown as { status: ConsentStatus; events: ConsentEvent[] };
}

/**
 * The history is a walk of the state machine from its creation to the record's status: created in the initial
 * status, each event leaving the status the previous one entered, by an allowed transition.
 */
function expectValidHistory(id: string, status: ConsentStatus, events: ConsentEvent[]): void {
  const walk = events.map((e) => `${e.from ?? '∅'}→${e.to}`).join(' ');
  expect(events[0], `${id}: ${walk}`).toMatchObject({ from: null, to: initialConsentStatus });
  for (let i = 1; i < events.length; i++) {
    const [previous, event] = [events[i - 1]!, events[i]!];
    expect(event.from, `${id} event ${i} leaves what event ${i - 1} entered: ${walk}`).toBe(previous.to);
    expect(canTransition(event.from!, event.to), `${id}: ${walk}`).toBe(true);
  }
  expect(events.at(-1)!.to, `${id}: the status is where the history ends: ${walk}`).toBe(status);
}

type Operation =
  | { kind: 'approve' | 'deny' | 'revoke-citizen'; consent: number }
  | { kind: 'revoke-service' | 'check' | 'read'; consent: number };

describe('100 concurrent approvals, denials, revocations and checks of the same consents (CE API)', () => {
  it('end in valid states: each history walks the state machine, one event per change that succeeded', async () => {
    const random = seeded(SEED);
    // Five pending requests: three of the first citizen's (one field each), two of the second's.
    const consents: { id: string; nic: string; field: string }[] = [];
    for (const field of FIELDS)
      consents.push({ id: await openRequest(citizens[0]!.nic, [field]), nic: citizens[0]!.nic, field });
    for (const field of FIELDS.slice(0, 2))
      consents.push({ id: await openRequest(citizens[1]!.nic, [field]), nic: citizens[1]!.nic, field });

    const kinds: Operation['kind'][] = [
      'approve',
      'approve',
      'approve',
      'deny',
      'revoke-citizen',
      'revoke-service',
      'check',
      'read',
    ];
    const operations: Operation[] = Array.from({ length: 100 }, () => ({
      kind: kinds[Math.floor(random() * kinds.length)]!,
      consent: Math.floor(random() * consents.length),
    }));

    const run = (op: Operation): Promise<Answer> => {
      const { id, nic, field } = consents[op.consent]!;
      const citizen = citizenTokens.get(nic)!;
      switch (op.kind) {
        case 'approve':
          return call('consent-engine', 'POST', `/v1/consents/${id}/decision`, citizen, {
            decision: 'approve',
          });
        case 'deny':
          return call('consent-engine', 'POST', `/v1/consents/${id}/decision`, citizen, { decision: 'deny' });
        case 'revoke-citizen':
          return call('consent-engine', 'POST', `/v1/consents/${id}/revoke`, citizen, {});
        case 'revoke-service':
          return call('consent-engine', 'POST', `/v1/consents/${id}/revoke`, serviceToken, {});
        case 'check':
          return call(
            'consent-engine',
            'POST',
            '/v1/consents/check',
            serviceToken,
            requestBody(nic, [field]),
          );
        case 'read':
          return call('consent-engine', 'GET', `/v1/consents/${id}`, serviceToken);
      }
    };
    const answers = await Promise.all(operations.map(run));

    const context = `seed ${SEED}${answers.some((a) => a.status >= 500) ? `\n${await loggedErrors('consent-engine')}` : ''}`;
    for (const [i, op] of operations.entries()) {
      const answer = answers[i]!;
      const changes = op.kind === 'approve' || op.kind === 'deny' || op.kind.startsWith('revoke');
      // A change either happened (200) or the state machine refused it (409); nothing else, never a 5xx.
      expect(
        changes && answer.status === 409 ? errorCode(answer) : answer.status,
        `${context}: ${op.kind} of consent ${op.consent}: ${JSON.stringify(answer.body)}`,
      ).toBe(changes && answer.status === 409 ? 'CONSENT_INVALID_TRANSITION' : 200);
    }

    for (const [index, consent] of consents.entries()) {
      const { status, events } = await consentWithEvents(consent.id);
      expectValidHistory(consent.id, status, events);
      const mine = operations
        .map((op, i) => ({ op, answer: answers[i]! }))
        .filter((x) => x.op.consent === index);
      const succeeded = (kinds: Operation['kind'][]) =>
        mine.filter((x) => kinds.includes(x.op.kind) && x.answer.status === 200);
      const decisions = succeeded(['approve', 'deny']);
      const revocations = succeeded(['revoke-citizen', 'revoke-service']);
      // One event per successful change, and the event says what that change's answer said.
      expect(
        events.slice(1).map((e) => e.to),
        `${context}: consent ${index}`,
      ).toEqual([...decisions, ...revocations].map((x) => x.answer.body['status']));
      expect(decisions.length, `${context}: consent ${index} decided at most once`).toBeLessThanOrEqual(1);
      if (decisions.length === 1) {
        expect(decisions[0]!.answer.body['status']).toBe(
          decisions[0]!.op.kind === 'approve' ? 'ACTIVE' : 'REJECTED',
        );
      }
      // A check answered "covered" only under this consent, and only if it was ever active.
      for (const { answer } of mine.filter((x) => x.op.kind === 'check')) {
        if (answer.body['covered'] === true) {
          expect(answer.body['consentId']).toBe(consent.id);
          expect(events.map((e) => e.to)).toContain('ACTIVE');
        }
      }
      // Afterwards a check is covered exactly when the consent ended active.
      const after = await call(
        'consent-engine',
        'POST',
        '/v1/consents/check',
        serviceToken,
        requestBody(consent.nic, [consent.field]),
      );
      expect(after.body['covered'], `${context}: consent ${index} is ${status}`).toBe(status === 'ACTIVE');
    }
  });
});

describe('100 concurrent create-or-reuse requests for the same fields, with an approval among them (CE API)', () => {
  it('open one record: every answer names it, one was created, and its history has one opening', async () => {
    const nic = citizens[1]!.nic;
    const fields = [FIELDS[2]!];
    const creates = Array.from({ length: 100 }, () =>
      call('consent-engine', 'POST', '/v1/consents', serviceToken, requestBody(nic, fields)),
    );
    const first = await creates[0]!;
    // The citizen approves while most of the requests are still in flight.
    const approval = call(
      'consent-engine',
      'POST',
      `/v1/consents/${first.body['consentId'] as string}/decision`,
      citizenTokens.get(nic)!,
      { decision: 'approve' },
    );
    const answers = await Promise.all([...creates, approval]);
    const created = answers.slice(0, 100);
    expect(answers[100]!.status, JSON.stringify(answers[100]!.body)).toBe(200);

    for (const answer of created) expect([200, 201], JSON.stringify(answer.body)).toContain(answer.status);
    expect(created.filter((a) => a.status === 201)).toHaveLength(1);
    expect(new Set(created.map((a) => a.body['consentId']))).toEqual(new Set([first.body['consentId']]));

    const { status, events } = await consentWithEvents(first.body['consentId'] as string);
    expectValidHistory(first.body['consentId'] as string, status, events);
    expect(events.map((e) => e.to)).toEqual(['PENDING', 'ACTIVE']);
  });
});

describe('100 concurrent activations of competing policy versions (PDP admin API)', () => {
  it('leave exactly one active version, and the activation history is one chain ending at it', async () => {
    const random = seeded(SEED + 1);
    const operator = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
    const admin = (method: 'GET' | 'POST', path: string, body?: unknown) =>
      call('policy-decision-point', method, `/admin/v1${path}`, operator, body);
    const grants = (await admin('GET', '/grants')).body['grants'] as {
      consumerId: string;
      fields: unknown[];
    }[];
    const traffic = grants.find((g) => g.consumerId === 'traffic-police-app')!;

    // Five new versions, none active yet: the traffic grant with five different shift windows.
    const versions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await fetch(
        `${t.url('policy-decision-point')}/admin/v1/grants/traffic-police-app/traffic-enforcement`,
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            reason: `race candidate ${i}`,
            fields: traffic.fields,
            legalBasis: 'legal-obligation',
            window: { start: `0${i}:00`, end: '22:00' },
          }),
        },
      );
      expect(response.status).toBe(201);
      versions.push(((await response.json()) as { version: number }).version);
    }
    const before = (await admin('GET', '/activations')).body['activations'] as { id: number }[];
    const startVersion = (await admin('GET', '/versions')).body['activeVersion'] as number;

    // Half plain activations, half conditional on the version active before the race (one of those may win).
    const attempts = Array.from({ length: 100 }, (_, i) => ({
      version: versions[Math.floor(random() * versions.length)]!,
      conditional: i % 2 === 1,
    }));
    const answers = await Promise.all(
      attempts.map((a) =>
        admin('POST', `/versions/${a.version}/activate`, {
          reason: 'race',
          ...(a.conditional ? { expectedActiveVersion: startVersion } : {}),
        }),
      ),
    );
    const errors = answers.some((a) => a.status >= 500) ? await loggedErrors('policy-decision-point') : '';
    for (const [i, answer] of answers.entries()) {
      const expected = attempts[i]!.conditional && answer.status === 409 ? 'CONFLICT' : 200;
      expect(
        answer.status === 409 ? errorCode(answer) : answer.status,
        `seed ${SEED + 1}: ${JSON.stringify(answer.body)}\n${errors}`,
      ).toBe(expected);
    }
    const won = answers.filter((a) => a.status === 200);
    expect(answers.filter((a, i) => attempts[i]!.conditional && a.status === 200).length).toBeLessThanOrEqual(
      1,
    );

    const listing = (await admin('GET', '/versions')).body as {
      activeVersion: number;
      versions: { version: number; active: boolean }[];
    };
    expect(listing.versions.filter((v) => v.active).map((v) => v.version)).toEqual([listing.activeVersion]);

    const history = (
      (await admin('GET', '/activations')).body['activations'] as {
        id: number;
        version: number;
        previousVersion: number | null;
      }[]
    )
      .filter((a) => !before.some((b) => b.id === a.id))
      .sort((a, b) => a.id - b.id);
    expect(history).toHaveLength(won.length);
    expect(history.map((a) => a.id).sort((a, b) => a - b)).toEqual(
      won.map((a) => a.body['id']).sort((a, b) => (a as number) - (b as number)),
    );
    let previous = startVersion;
    for (const activation of history) {
      expect(activation.previousVersion, `seed ${SEED + 1}: activation ${activation.id}`).toBe(previous);
      previous = activation.version;
    }
    expect(previous).toBe(listing.activeVersion);

    // The PDP decides with the version that is active.
    const oe = await t.clientToken('orchestration-engine', 'urn:ndx:pdp');
    const decision = await call('policy-decision-point', 'POST', '/v1/decisions', oe, {
      consumerId: 'traffic-police-app',
      purpose: 'traffic-enforcement',
      fields: [{ providerKey: 'dmt', schemaId: 'dmt-schema-v1', field: 'vehicle.make' }],
    });
    expect(decision.status, JSON.stringify(decision.body)).toBe(200);
    expect(decision.body['policyVersion']).toBe(listing.activeVersion);
  });
});
