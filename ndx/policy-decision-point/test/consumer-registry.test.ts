import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredConsumerSchema } from '@ndx/contract';
import { call, startHarness, type Harness } from './support/pdp-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('pdp_consumer_registry');
});
afterAll(async () => {
  await h?.stop();
});

const lookup = (consumerId: string, token = h.tokens.oe) =>
  call(h.pdp.url, `/v1/consumers/${encodeURIComponent(consumerId)}`, { token });

describe('GET /v1/consumers/{id}: the consumer registry the OE checks tokens against', () => {
  it('answers a registered consumer with its entry in the active version, in the contract’s shape', async () => {
    const { status, body } = await lookup('passport-app');
    expect(status).toBe(200);
    expect(body).toEqual({
      consumerId: 'passport-app',
      displayName: 'DIE passport application',
      member: 'die',
      purposes: ['passport-application'],
      defaultPurpose: 'passport-application',
      policyVersion: 1,
    });
    expect(registeredConsumerSchema.parse(body)).toEqual(body);
    expect((await lookup('traffic-police-app')).body).toMatchObject({
      consumerId: 'traffic-police-app',
      purposes: ['traffic-enforcement'],
    });
  });

  it('answers 404 UNKNOWN_CONSUMER for a FUDI client that is no consumer, and for an id nobody has', async () => {
    for (const id of ['orchestration-engine', 'ndx-operator', 'no such client']) {
      const { status, body } = await lookup(id);
      expect({ id, status, code: body.error.code }).toEqual({ id, status: 404, code: 'UNKNOWN_CONSUMER' });
      expect(body.error.message).toContain(`${id} is not a registered consumer (policy version 1)`);
    }
  });

  it('registers a consumer an operator adds only once the version holding it is active', async () => {
    const put = (activate: boolean) =>
      call(h.pdp.url, '/admin/v1/consumers/tax-app', {
        method: 'PUT',
        token: h.tokens.operator,
        body: {
          reason: 'the tax office joins NDX',
          displayName: 'Tax office',
          member: 'zra',
          purposes: ['tax-assessment'],
          activate,
        },
      });
    expect((await put(false)).body).toMatchObject({ version: 2, active: false });
    expect((await lookup('tax-app')).body.error.code).toBe('UNKNOWN_CONSUMER');

    expect((await put(true)).body).toMatchObject({ version: 3, active: true });
    const { status, body } = await lookup('tax-app');
    expect(status).toBe(200);
    expect(body).toEqual({
      consumerId: 'tax-app',
      displayName: 'Tax office',
      member: 'zra',
      purposes: ['tax-assessment'],
      // No default was set: its only purpose is the default of its queries.
      defaultPurpose: 'tax-assessment',
      policyVersion: 3,
    });
  });

  it('answers only the clients that may ask for decisions (the OE): 401 without a valid PDP token, 403 for others', async () => {
    const refusals = [
      ['no token', await call(h.pdp.url, '/v1/consumers/passport-app')],
      ['a consumer’s NDX API token', await lookup('passport-app', h.tokens.consumer)],
      ['an operator’s admin token', await lookup('passport-app', h.tokens.operator)],
      ['another service’s PDP token', await lookup('passport-app', h.tokens.stranger)],
    ] as const;
    expect(refusals.map(([who, r]) => [who, r.status, r.body.error.code])).toEqual([
      ['no token', 401, 'UNAUTHENTICATED'],
      ['a consumer’s NDX API token', 401, 'UNAUTHENTICATED'],
      ['an operator’s admin token', 403, 'FORBIDDEN'],
      ['another service’s PDP token', 403, 'FORBIDDEN'],
    ]);
  });

  it('keeps a consumer’s default purpose when a change does not name one, drops it with null, refuses one outside its purposes', async () => {
    const put = (body: Record<string, unknown>) =>
      call(h.pdp.url, '/admin/v1/consumers/passport-app', {
        method: 'PUT',
        token: h.tokens.operator,
        body: {
          reason: 'the passport app adds renewals',
          displayName: 'DIE passport application',
          member: 'die',
          activate: true,
          ...body,
        },
      });
    expect((await put({ purposes: ['passport-application', 'passport-renewal'] })).status).toBe(201);
    expect((await lookup('passport-app')).body.defaultPurpose).toBe('passport-application');

    const outside = await put({ purposes: ['passport-application'], defaultPurpose: 'passport-renewal' });
    expect([outside.status, outside.body.error.code]).toEqual([400, 'BAD_REQUEST']);

    expect(
      (await put({ purposes: ['passport-application', 'passport-renewal'], defaultPurpose: null })).status,
    ).toBe(201);
    // Two purposes and none named the default: its queries must name their purpose.
    expect((await lookup('passport-app')).body.defaultPurpose).toBeUndefined();
  });
});
