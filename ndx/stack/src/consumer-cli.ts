import { parseArgs } from 'node:util';
import { consentApiPaths, consumerListSchema, identityAdminPaths, type ConsumerList } from '@ndx/contract';
import { OperatorApiError, type OperatorApi } from './operator-api.ts';

/**
 * ndx consumer add | list | show | disable: a consumer app onboarded (or stopped) in one command, through
 * the services' operator APIs, with no file edit and no restart:
 *   FUDI: its client (client credentials for the NDX API), the secret printed once;
 *   PDP: the consumer, its purpose (the default of its queries) and its grant, as a new policy version whose
 *        difference is shown before it is activated;
 *   CE: its name and agency as citizens see them, where the consent portal may send citizens back, and what
 *       its purpose says.
 */

export const CONSUMER_USAGE = `  ndx consumer add CLIENT_ID --name NAME --agency MEMBER --purpose CODE --fields P/S/FIELD...
                   [--purpose-text TEXT] [--legal-basis consent|legal-obligation]
                   [--window HH:MM-HH:MM] [--expires ISO-TIME] [--redirect-uri URL...]
                   [--agency-name NAME] [--duration-days N] [--dry-run]
                                   onboard a consumer app: its FUDI client (secret printed once),
                                   its consumer entry and grant at the PDP (the new policy version's
                                   difference is printed, then activated; --dry-run stops there),
                                   its name, purpose text and return URLs at the CE
  ndx consumer list [--json]       every consumer: PDP registration, CE and FUDI state
  ndx consumer show CLIENT_ID [--json]
  ndx consumer disable CLIENT_ID [--reason TEXT]
                                   refuse it everywhere: removed from the active policy (a new
                                   version), no new consent requests, no new FUDI tokens`;

type Print = (line: string) => void;

interface PdpConsumer {
  consumerId: string;
  displayName: string;
  member: string;
  purposes: string[];
  defaultPurpose?: string | null;
}

interface PdpGrant {
  consumerId: string;
  purpose: string;
  fields: { providerKey: string; schemaId: string; field: string }[];
  legalBasis: string;
  expiresAt: string | null;
  window: { start: string; end: string } | null;
}

interface FudiClient {
  clientId: string;
  name?: string;
  source: string;
  resources: string[];
  disabledAt?: string;
}

/** Runs `ndx consumer …`; resolves to the exit code (0 done, 1 refused or failed, 2 bad usage). */
export async function runConsumerCli(
  argv: string[],
  api: OperatorApi,
  print: Print,
  printError: Print,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'add':
        return await add(rest, api, print);
      case 'list':
        return await list(rest, api, print);
      case 'show':
        return await show(rest, api, print);
      case 'disable':
        return await disable(rest, api, print);
      default:
        printError(`usage:\n${CONSUMER_USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      printError(`ndx consumer ${command}: ${err.message}\nusage:\n${CONSUMER_USAGE}`);
      return 2;
    }
    printError(`ndx consumer ${command}: ${(err as Error).message}`);
    return 1;
  }
}

class UsageError extends Error {}

const FIELD = /^([A-Za-z0-9][A-Za-z0-9._:-]*)\/([A-Za-z0-9][A-Za-z0-9._:-]*)\/([A-Za-z_][A-Za-z0-9_.]*)$/;

async function add(argv: string[], api: OperatorApi, print: Print): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      agency: { type: 'string' },
      'agency-name': { type: 'string' },
      purpose: { type: 'string' },
      'purpose-text': { type: 'string' },
      'legal-basis': { type: 'string', default: 'consent' },
      fields: { type: 'string', multiple: true },
      window: { type: 'string' },
      expires: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'duration-days': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const [clientId, ...extra] = positionals;
  if (!clientId || extra.length > 0) throw new UsageError('name one CLIENT_ID');
  const need = (value: string | undefined, flag: string) => {
    if (!value) throw new UsageError(`--${flag} is required`);
    return value;
  };
  const name = need(values.name, 'name');
  const member = need(values.agency, 'agency');
  const purpose = need(values.purpose, 'purpose');
  const legalBasis = values['legal-basis'];
  if (legalBasis !== 'consent' && legalBasis !== 'legal-obligation')
    throw new UsageError('--legal-basis is consent or legal-obligation');
  const fields = (values.fields ?? [])
    .flatMap((f) => f.split(','))
    .filter(Boolean)
    .map((f) => {
      const match = FIELD.exec(f.trim());
      if (!match)
        throw new UsageError(
          `--fields ${f}: give provider/schema/field, e.g. rgd/abc-212/getPersonInfo.fullName`,
        );
      return { providerKey: match[1]!, schemaId: match[2]!, field: match[3]! };
    });
  if (fields.length === 0) throw new UsageError('--fields names at least one provider/schema/field');
  let window: { start: string; end: string } | null = null;
  if (values.window) {
    const match = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(values.window);
    if (!match) throw new UsageError('--window is HH:MM-HH:MM, e.g. 06:00-22:00');
    window = { start: match[1]!, end: match[2]! };
  }
  if (values.expires && Number.isNaN(Date.parse(values.expires)))
    throw new UsageError('--expires is an ISO time, e.g. 2027-12-31T23:59:59Z');
  const durationDays = values['duration-days'] === undefined ? undefined : Number(values['duration-days']);
  if (durationDays !== undefined && !(durationDays > 0))
    throw new UsageError('--duration-days is a positive number');

  // Nothing is created for a consumer that exists anywhere already.
  const [pdpConsumers, fudiClients] = await Promise.all([
    api.call<{ version: number; consumers: PdpConsumer[] }>(
      'policy-decision-point',
      'GET',
      '/admin/v1/consumers',
    ),
    api.call<{ clients: FudiClient[] }>('identity-provider', 'GET', identityAdminPaths.clients),
  ]);
  if (pdpConsumers.consumers.some((c) => c.consumerId === clientId))
    throw new Error(`${clientId} is already a consumer in policy version ${pdpConsumers.version}`);
  if (fudiClients.clients.some((c) => c.clientId === clientId))
    throw new Error(`FUDI already has a client ${clientId}; choose another client id`);
  const activeVersion = pdpConsumers.version;

  // 1. The PDP: a new policy version with the consumer and its grant, not yet active.
  const created = await api.call<{ version: number; change: string }>(
    'policy-decision-point',
    'PUT',
    `/admin/v1/consumers/${encodeURIComponent(clientId)}`,
    {
      reason: `ndx consumer add ${clientId}`,
      baseVersion: activeVersion,
      displayName: name,
      member,
      purposes: [purpose],
      defaultPurpose: purpose,
      grants: [{ purpose, fields, legalBasis, expiresAt: values.expires ?? null, window }],
      activate: false,
    },
  );
  print(`policy version ${created.version} (from active version ${activeVersion}) differs by:`);
  for (const line of await versionDifference(api, activeVersion, created.version)) print(`  ${line}`);
  if (values['dry-run']) {
    print(`dry run: version ${created.version} is stored but not active; nothing else was changed`);
    return 0;
  }

  // 2. The CE: what citizens see, and where the portal may send them back.
  if (values['purpose-text'] || durationDays !== undefined) {
    await api.call('consent-engine', 'PUT', consentApiPaths.purpose(purpose), {
      text: values['purpose-text'] ?? purpose,
      legalBasis,
      ...(durationDays === undefined ? {} : { durationDays }),
    });
  }
  await api.call('consent-engine', 'PUT', consentApiPaths.consumer(clientId), {
    displayName: name,
    agency: values['agency-name'] ?? member,
    redirectUris: values['redirect-uri'] ?? [],
  });
  print(
    `consent engine: ${clientId} registered${values['redirect-uri'] ? ` (returns to ${values['redirect-uri'].join(', ')})` : ''}`,
  );

  // 3. FUDI: the client and its secret, shown once.
  const client = await api.call<{ clientId: string; clientSecret?: string }>(
    'identity-provider',
    'POST',
    identityAdminPaths.clients,
    { clientId, name, resources: ['urn:ndx:api'] },
  );

  // 4. Activate: the call returns once every OE obeys the new version.
  await api.call('policy-decision-point', 'POST', `/admin/v1/versions/${created.version}/activate`, {
    reason: `ndx consumer add ${clientId}`,
    expectedActiveVersion: activeVersion,
  });
  print(
    `policy version ${created.version} is active: ${clientId} may query NDX for ${purpose} (its default purpose)`,
  );
  print(`client_id=${client.clientId}`);
  print(`client_secret=${client.clientSecret ?? ''}`);
  print('Store the secret now: FUDI shows it only once.');
  return 0;
}

/** What a new policy version changes in consumers and grants, line by line (+ added, - removed, ~ changed). */
async function versionDifference(api: OperatorApi, from: number, to: number): Promise<string[]> {
  const read = async (version: number) => {
    const [consumers, grants] = await Promise.all([
      api.call<{ consumers: PdpConsumer[] }>(
        'policy-decision-point',
        'GET',
        `/admin/v1/consumers?version=${version}`,
      ),
      api.call<{ grants: PdpGrant[] }>('policy-decision-point', 'GET', `/admin/v1/grants?version=${version}`),
    ]);
    return {
      consumers: new Map(consumers.consumers.map((c) => [c.consumerId, c])),
      grants: new Map(grants.grants.map((g) => [`${g.consumerId}/${g.purpose}`, g])),
    };
  };
  const [before, after] = await Promise.all([read(from), read(to)]);
  const lines: string[] = [];
  const describeConsumer = (c: PdpConsumer) =>
    `consumer ${c.consumerId} "${c.displayName}" of ${c.member}, purposes ${c.purposes.join(', ')}${c.defaultPurpose ? ` (default ${c.defaultPurpose})` : ''}`;
  const describeGrant = (key: string, g: PdpGrant) =>
    `grant ${key}: ${g.legalBasis}, ${g.fields.length} field(s)${g.window ? `, ${g.window.start}-${g.window.end}` : ''}${g.expiresAt ? `, until ${g.expiresAt}` : ''}: ${g.fields.map((f) => `${f.providerKey}/${f.schemaId}/${f.field}`).join(' ')}`;
  diff(before.consumers, after.consumers, (c) => describeConsumer(c), lines);
  diff(before.grants, after.grants, (g, key) => describeGrant(key, g), lines);
  return lines.length > 0 ? lines : ['(no change in consumers or grants)'];
}

function diff<T>(
  before: Map<string, T>,
  after: Map<string, T>,
  describe: (value: T, key: string) => string,
  lines: string[],
): void {
  for (const [key, value] of after) {
    const old = before.get(key);
    if (!old) lines.push(`+ ${describe(value, key)}`);
    else if (JSON.stringify(old) !== JSON.stringify(value))
      lines.push(`~ ${describe(value, key)} (was: ${describe(old, key)})`);
  }
  for (const [key, value] of before) if (!after.has(key)) lines.push(`- ${describe(value, key)}`);
}

interface ConsumerView {
  clientId: string;
  pdp: PdpConsumer | null;
  grants: PdpGrant[];
  ce: ConsumerList['consumers'][number] | null;
  fudi: FudiClient | null;
}

async function gather(api: OperatorApi): Promise<{ policyVersion: number; views: ConsumerView[] }> {
  const [consumers, grants, ce, fudi] = await Promise.all([
    api.call<{ version: number; consumers: PdpConsumer[] }>(
      'policy-decision-point',
      'GET',
      '/admin/v1/consumers',
    ),
    api.call<{ grants: PdpGrant[] }>('policy-decision-point', 'GET', '/admin/v1/grants'),
    api
      .call<unknown>('consent-engine', 'GET', consentApiPaths.consumers)
      .then((body) => consumerListSchema.parse(body)),
    api.call<{ clients: FudiClient[] }>('identity-provider', 'GET', identityAdminPaths.clients),
  ]);
  // A consumer app is a client for the NDX API, or anything the PDP or the CE registers.
  const ids = new Set<string>([
    ...consumers.consumers.map((c) => c.consumerId),
    ...ce.consumers.map((c) => c.consumerId),
    ...fudi.clients.filter((c) => c.resources.includes('urn:ndx:api')).map((c) => c.clientId),
  ]);
  const views = [...ids].sort().map((clientId) => ({
    clientId,
    pdp: consumers.consumers.find((c) => c.consumerId === clientId) ?? null,
    grants: grants.grants.filter((g) => g.consumerId === clientId),
    ce: ce.consumers.find((c) => c.consumerId === clientId) ?? null,
    fudi: fudi.clients.find((c) => c.clientId === clientId) ?? null,
  }));
  return { policyVersion: consumers.version, views };
}

/** Whether the consumer may query NDX now: registered at the PDP, enabled at the CE, an active FUDI client. */
function stateOf(view: ConsumerView): string {
  const problems: string[] = [];
  if (!view.pdp) problems.push('not in the active policy');
  if (!view.ce) problems.push('unknown to the CE');
  else if (view.ce.disabledAt) problems.push('disabled at the CE');
  if (!view.fudi) problems.push('no FUDI client');
  else if (view.fudi.disabledAt) problems.push('FUDI client disabled');
  return problems.length === 0 ? 'active' : problems.join(', ');
}

async function list(argv: string[], api: OperatorApi, print: Print): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } });
  const { policyVersion, views } = await gather(api);
  if (values.json) {
    print(
      JSON.stringify({ policyVersion, consumers: views.map((v) => ({ ...v, state: stateOf(v) })) }, null, 2),
    );
    return 0;
  }
  print(`consumers (policy version ${policyVersion}):`);
  for (const v of views) {
    const name = v.pdp?.displayName ?? v.ce?.displayName ?? v.fudi?.name ?? '';
    const purposes = v.pdp ? v.pdp.purposes.join(',') : '-';
    print(`  ${v.clientId.padEnd(24)} ${name.padEnd(32)} ${purposes.padEnd(24)} ${stateOf(v)}`);
  }
  return 0;
}

async function show(argv: string[], api: OperatorApi, print: Print): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  const [clientId] = positionals;
  if (!clientId || positionals.length > 1) throw new UsageError('name one CLIENT_ID');
  const { policyVersion, views } = await gather(api);
  const view = views.find((v) => v.clientId === clientId);
  if (!view) throw new Error(`no consumer ${clientId} at the PDP, the CE or FUDI`);
  if (values.json) {
    print(JSON.stringify({ policyVersion, ...view, state: stateOf(view) }, null, 2));
    return 0;
  }
  print(`${clientId}: ${stateOf(view)}`);
  if (view.pdp) {
    print(
      `  PDP (policy version ${policyVersion}): "${view.pdp.displayName}" of ${view.pdp.member}; purposes ${view.pdp.purposes.join(', ')}${view.pdp.defaultPurpose ? `; default ${view.pdp.defaultPurpose}` : ''}`,
    );
    for (const g of view.grants) {
      print(
        `    grant ${g.purpose}: ${g.legalBasis}${g.window ? `, ${g.window.start}-${g.window.end}` : ''}${g.expiresAt ? `, until ${g.expiresAt}` : ''}`,
      );
      for (const f of g.fields) print(`      ${f.providerKey}/${f.schemaId}/${f.field}`);
    }
  }
  if (view.ce)
    print(
      `  CE: "${view.ce.displayName}" (${view.ce.agency}); returns to ${view.ce.redirectUris.join(', ') || '(nowhere)'}${view.ce.disabledAt ? `; disabled ${view.ce.disabledAt}` : ''}`,
    );
  if (view.fudi)
    print(
      `  FUDI: ${view.fudi.source} client for ${view.fudi.resources.join(' ')}${view.fudi.disabledAt ? `; disabled ${view.fudi.disabledAt}` : ''}`,
    );
  return 0;
}

async function disable(argv: string[], api: OperatorApi, print: Print): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { reason: { type: 'string' } },
  });
  const [clientId] = positionals;
  if (!clientId || positionals.length > 1) throw new UsageError('name one CLIENT_ID');
  const reason = values.reason ?? `ndx consumer disable ${clientId}`;
  let refused = 0;
  // The PDP first: once its new version is active (every OE obeys it), the consumer's queries are refused.
  try {
    const removed = await api.call<{ version: number }>(
      'policy-decision-point',
      'DELETE',
      `/admin/v1/consumers/${encodeURIComponent(clientId)}`,
      { reason, activate: true },
    );
    print(`policy version ${removed.version} is active without ${clientId}: its queries are refused`);
  } catch (err) {
    if (!(err instanceof OperatorApiError && err.status === 404)) throw err;
    print(`the active policy has no consumer ${clientId}`);
    refused += 1;
  }
  try {
    await api.call('consent-engine', 'POST', consentApiPaths.disableConsumer(clientId));
    print(`consent engine: ${clientId} may ask for no new consent`);
  } catch (err) {
    if (!(err instanceof OperatorApiError && err.status === 404)) throw err;
    print(`the consent engine knows no consumer ${clientId}`);
    refused += 1;
  }
  try {
    await api.call('identity-provider', 'POST', identityAdminPaths.disable(clientId));
    print(`FUDI: ${clientId} gets no more tokens (tokens already issued expire within their lifetime)`);
  } catch (err) {
    if (!(err instanceof OperatorApiError && err.status === 404)) throw err;
    print(
      `FUDI: ${clientId} is not a client an operator added (a configured client is removed from FUDI_CLIENTS)`,
    );
  }
  if (refused === 2) throw new Error(`no consumer ${clientId} at the PDP or the CE`);
  return 0;
}
