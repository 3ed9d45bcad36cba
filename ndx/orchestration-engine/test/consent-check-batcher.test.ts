/**
 * The OE's grouping of coverage checks into calls of POST /v1/consents/checks, on its own: the CE is an
 * in-test fake that records each call (and when it was made) and answers in the contract's shape when told.
 */
import { describe, expect, it } from 'vitest';
import type { ConsentCheckBatchResponse, ConsentCheckRequestBody, ConsentCheckResponse } from '@ndx/contract';
import { createConsentCheckBatcher } from '../src/consent-check-batcher.ts';

const field = { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName' };
const checkOf = (citizenId: string): ConsentCheckRequestBody => ({
  citizenId,
  consumerId: 'passport-app',
  purpose: 'passport-application',
  fields: [field],
});
/** The answer the fake CE gives for a citizen: covered by consent `c-<citizen>`. */
const coveredFor = (citizenId: string): ConsentCheckResponse => ({
  covered: true,
  consentId: `c-${citizenId}`,
  consentIds: [`c-${citizenId}`],
  coveredBy: [{ ...field, consentId: `c-${citizenId}` }],
  missingFields: [],
});

interface Call {
  citizens: string[];
  /** Position of the call in the sequence of events (asks and calls) of the test. */
  at: number;
  answer: (response?: ConsentCheckBatchResponse | Error) => void;
}

/** A fake CE whose calls wait until the test answers them (by default, each check covered). */
function fakeCe() {
  const calls: Call[] = [];
  let clock = 0;
  const send = (checks: ConsentCheckRequestBody[]) =>
    new Promise<ConsentCheckBatchResponse>((resolve, reject) => {
      const citizens = checks.map((c) => c.citizenId);
      calls.push({
        citizens,
        at: clock++,
        answer: (response) => {
          if (response instanceof Error) reject(response);
          else resolve(response ?? { results: citizens.map((c) => ({ ok: coveredFor(c) })) });
        },
      });
    });
  return { calls, send, tick: () => clock++ };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('coverage checks grouped into calls', () => {
  it('checks asked in the same turn go in one call, in order, each answered with its own result', async () => {
    const ce = fakeCe();
    const batcher = createConsentCheckBatcher({ send: ce.send });
    const answers = Promise.all(['A', 'B', 'C'].map((c) => batcher.check(checkOf(c))));
    await turn();
    expect(ce.calls.map((c) => c.citizens)).toEqual([['A', 'B', 'C']]);
    ce.calls[0]!.answer();
    expect(await answers).toEqual([coveredFor('A'), coveredFor('B'), coveredFor('C')]);
  });

  it('a check asked while the calls allowed are in flight is never added to one of them: it goes in a call made after it was asked', async () => {
    const ce = fakeCe();
    const batcher = createConsentCheckBatcher({ send: ce.send, maxInFlight: 1 });
    const first = batcher.check(checkOf('A'));
    await turn();
    expect(ce.calls.map((c) => c.citizens)).toEqual([['A']]);
    const askedAt = ce.tick();
    const later = Promise.all([batcher.check(checkOf('B')), batcher.check(checkOf('C'))]);
    await turn();
    // The call for A is still in flight: B and C wait rather than ride on it.
    expect(ce.calls).toHaveLength(1);
    expect(batcher.state()).toEqual({ waiting: 2, inFlight: 1 });
    ce.calls[0]!.answer();
    expect(await first).toEqual(coveredFor('A'));
    await turn();
    expect(ce.calls.map((c) => c.citizens)).toEqual([['A'], ['B', 'C']]);
    expect(ce.calls[1]!.at).toBeGreaterThan(askedAt);
    ce.calls[1]!.answer();
    expect(await later).toEqual([coveredFor('B'), coveredFor('C')]);
    expect(batcher.state()).toEqual({ waiting: 0, inFlight: 0 });
  });

  it('a call that fails fails every check in it, a check the CE refused fails alone, and a miscounted answer fails the call', async () => {
    const ce = fakeCe();
    const batcher = createConsentCheckBatcher({ send: ce.send });
    const failed = ['A', 'B'].map((c) => batcher.check(checkOf(c)));
    await turn();
    ce.calls[0]!.answer(new Error('CE down'));
    for (const check of failed) await expect(check).rejects.toThrow('CE down');

    const mixed = ['C', 'D'].map((c) => batcher.check(checkOf(c)));
    await turn();
    ce.calls[1]!.answer({
      results: [{ error: { code: 'BAD_REQUEST', message: 'invalid check' } }, { ok: coveredFor('D') }],
    });
    await expect(mixed[0]).rejects.toThrow(/refused a check: invalid check/);
    expect(await mixed[1]).toEqual(coveredFor('D'));

    const miscounted = ['E', 'F'].map((c) => batcher.check(checkOf(c)));
    await turn();
    ce.calls[2]!.answer({ results: [{ ok: coveredFor('E') }] });
    for (const check of miscounted) await expect(check).rejects.toThrow(/1 results for 2 checks/);
  });

  it('sends at most maxBatch checks in a call and the rest in the next ones', async () => {
    const ce = fakeCe();
    const batcher = createConsentCheckBatcher({ send: ce.send, maxBatch: 2, maxInFlight: 3 });
    const answers = Promise.all(['A', 'B', 'C', 'D', 'E'].map((c) => batcher.check(checkOf(c))));
    await turn();
    expect(ce.calls.map((c) => c.citizens)).toEqual([['A', 'B'], ['C', 'D'], ['E']]);
    for (const call of ce.calls) call.answer();
    expect((await answers).map((a) => a.consentId)).toEqual(['c-A', 'c-B', 'c-C', 'c-D', 'c-E']);
  });
});
