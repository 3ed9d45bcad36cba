import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clientCredentialsToken } from './client-token.ts';
import { repoRoot, type TestStack } from './test-stack.ts';

const run = promisify(execFile);

/**
 * Registers a client in the stack's FUDI with FUDI's operator CLI (`add-client …`), as an operator does;
 * returns the client's secret, printed once (none for a public client).
 */
export async function addFudiClient(t: TestStack, args: string[]): Promise<string | undefined> {
  const cli = join(repoRoot, 'ndx', 'identity-provider', 'src', 'cli.ts');
  const { stdout } = await run(process.execPath, [cli, 'add-client', ...args], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.databaseUrl('ndx_identity') },
    timeout: 30_000,
  });
  return /^client_secret=(\S+)$/m.exec(stdout)?.[1];
}

/** A client-credentials token for the NDX API from the stack's FUDI, for a client a test registered. */
export function ndxApiToken(t: TestStack, clientId: string, secret: string): Promise<string> {
  return clientCredentialsToken(t.url('identity-provider'), { id: clientId, secret }, 'urn:ndx:api');
}

/** Registers (or replaces) a consumer at the stack's PDP through the admin API and activates it at once. */
export async function registerConsumer(
  t: TestStack,
  consumer: { consumerId: string; displayName: string; member: string; purposes: string[] },
): Promise<void> {
  const operator = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
  const { consumerId, ...entry } = consumer;
  const response = await fetch(`${t.url('policy-decision-point')}/admin/v1/consumers/${consumerId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: `test registers ${consumerId}`, ...entry, activate: true }),
  });
  if (response.status !== 201)
    throw new Error(`the PDP did not register ${consumerId}: ${response.status} ${await response.text()}`);
}
