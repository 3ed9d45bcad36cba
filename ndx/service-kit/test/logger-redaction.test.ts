import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.ts';

/** A logger writing to memory, and the lines it wrote. */
function capture(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    logger: createLogger('redaction-test', { level: 'debug', destination }),
    text: () => chunks.join(''),
  };
}

const SECRET = 'S3CRET-value-that-must-not-be-logged';

describe('the logger redacts credentials wherever a line carries them', () => {
  it('in request and response headers, at the top of a line, and one level down; other values stay', () => {
    const { logger, text } = capture();
    logger.debug(
      {
        req: {
          method: 'GET',
          url: '/x',
          headers: { authorization: `Bearer ${SECRET}`, cookie: SECRET, 'x-api-key': SECRET },
        },
      },
      'request',
    );
    logger.debug({ res: { headers: { 'set-cookie': SECRET } } }, 'response');
    logger.debug({ headers: { authorization: SECRET } }, 'outgoing call');
    logger.debug(
      { token: SECRET, password: SECRET, client_secret: SECRET, apiKey: SECRET, totpSecret: SECRET },
      'top level',
    );
    logger.debug(
      {
        account: { password: SECRET, totpSecret: SECRET },
        client: { clientSecret: SECRET, secret: SECRET },
        tokens: {
          access_token: SECRET,
          id_token: SECRET,
          refresh_token: SECRET,
          accessToken: SECRET,
          idToken: SECRET,
        },
      },
      'one level down',
    );
    const lines = text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['msg'])).toEqual([
      'request',
      'response',
      'outgoing call',
      'top level',
      'one level down',
    ]);
    expect(text()).not.toContain(SECRET);
    expect(lines[0]!['req']).toEqual({
      method: 'GET',
      url: '/x',
      headers: { authorization: '[redacted]', cookie: '[redacted]', 'x-api-key': '[redacted]' },
    });
    expect(lines[4]!['account']).toEqual({ password: '[redacted]', totpSecret: '[redacted]' });
  });
});
