/**
 * The coverage check is asked once per gated query, so it writes no log line per request at `info`
 * (warnings and errors still are written). The CE runs with a logger at `info` whose lines the test reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@ndx/service-kit';
import { amara, call, startHarness, type Harness } from './support/harness.ts';

const lines: string[] = [];
let h: Harness;

beforeAll(async () => {
  const logger = createLogger('consent-engine', {
    level: 'info',
    destination: { write: (line: string) => void lines.push(line) },
  });
  h = await startHarness({ logger });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('the coverage check on the request path', () => {
  it('answers checks, accepted and refused, without writing a log line at info', async () => {
    const token = await h.oeToken();
    const body = {
      citizenId: amara.nic,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
    };
    const before = lines.length;
    for (let i = 0; i < 5; i++) {
      const answer = await call(`${h.url}/v1/consents/check`, { token, body });
      expect(answer.status).toBe(200);
      expect(answer.body['covered']).toBe(false);
    }
    const refused = await call(`${h.url}/v1/consents/check`, { token, body: { ...body, fields: [] } });
    expect(refused.status).toBe(400);
    expect(lines.slice(before)).toEqual([]);
    // The logger does write at info: a line the service logs itself is there.
    h.ce.log.info('probe line');
    expect(lines.slice(before).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['probe line']);
  });
});
