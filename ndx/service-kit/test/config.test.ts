import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, baseServiceConfig, configFields, loadConfig } from '../src/index.ts';

const schema = z.object({
  ...baseServiceConfig(4000),
  DATABASE_URL: configFields.databaseUrl(),
  PROVIDER_URL: configFields.url(),
});

describe('configuration from the environment', () => {
  it('parses good values into typed ones with defaults', () => {
    const config = loadConfig(schema, {
      DATABASE_URL: 'postgres://u:p@h/db',
      PROVIDER_URL: 'http://127.0.0.1:8080',
    });
    expect(config).toMatchObject({ PORT: 4000, HOST: '127.0.0.1', LOG_LEVEL: 'info' });
  });

  it('a bad value stops start-up with a message naming the variable and the value', () => {
    const attempt = () =>
      loadConfig(schema, { PORT: 'eighty', DATABASE_URL: 'postgres://u:p@h/db', PROVIDER_URL: 'http://x' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT="eighty"/);
  });

  it('names every missing variable', () => {
    try {
      loadConfig(schema, {});
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/DATABASE_URL/);
      expect((err as Error).message).toMatch(/PROVIDER_URL/);
    }
  });
});
