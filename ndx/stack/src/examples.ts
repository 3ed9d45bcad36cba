import { relative } from 'node:path';
import type { RunningStack } from './launcher.ts';

/** Copy-paste examples printed by init.sh once everything is ready; each names only things that work. */
export function examples(stack: Pick<RunningStack, 'context' | 'services' | 'secretsFile'>): string[] {
  const { context } = stack;
  const has = (name: string) => stack.services.some((s) => s.name === name);
  const inRepo = relative(context.repoRoot, stack.secretsFile);
  const secrets = inRepo.startsWith('..') ? stack.secretsFile : `./${inRepo}`;
  const secret = (name: string) => `$(node -p "require('${secrets}')['${name}']")`;
  const fudi = context.url('identity-provider');
  const lines: string[] = [`FUDI issuer: ${fudi}`];
  if (has('passport-app'))
    lines.push(`DIE passport app: ${context.url('passport-app')}  (try the whole journey in a browser)`);
  if (has('consent-engine'))
    lines.push(`Consent portal, your consents: ${context.url('consent-engine')}/consent/mine`);
  if (has('orchestration-engine')) {
    const graphql = `${context.url('orchestration-engine')}/graphql`;
    const query = (nic: string) =>
      `curl -s ${graphql} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\\n  -d '{"query":"query($nic: ID!) { personInfo(nic: $nic) { name fullName dateOfBirth sex address birthInfo { birthPlace district } } }","variables":{"nic":"${nic}"}}'`;
    lines.push(
      '',
      '# 1. The DIE passport app gets a token from FUDI (OAuth2 client credentials):',
      `TOKEN=$(curl -s -u "passport-app:${secret('fudi.client.passport-app')}" -d grant_type=client_credentials -d resource=urn:ndx:api ${fudi}/token | node -p 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
      '',
      '# 2. Daliso Phiri (783345678V) has consented: his record, merged from RGD and DRP:',
      query('783345678V'),
      '',
      '# 3. Amara Chanda (199560201234) has not: CONSENT_REQUIRED with a consentPortalUrl.',
      '#    Open it, sign in as 199560201234 / amara-demo-2026, approve, and run this again:',
      query('199560201234'),
    );
  }
  lines.push(
    '',
    `# Every service answers /health, /ready and /metrics, e.g. curl -s ${context.url('orchestration-engine')}/metrics`,
  );
  return lines;
}
