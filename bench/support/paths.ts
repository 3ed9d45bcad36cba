import { Pool } from 'undici';
import type { Call } from './loops.ts';

/** The passport query as a consumer app sends it to NDX (the same fields the other two paths fetch). */
export const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;

/** The same fields from each provider, in each provider's own schema (what the OE's planner sends). */
export const RGD_QUERY = `query ($nic: ID!) {
  getPersonInfo(nic: $nic) { fullName dateOfBirth sex birthRegistrationNumber birthPlace district }
}`;
export const DRP_QUERY = `query ($nic: ID!) {
  person(nic: $nic) { fullName otherNames permanentAddress profession }
}`;
/** One operation asking both root fields of the composed supergraph. */
export const PEER_QUERY = `query Passport($nic: ID!) {
  getPersonInfo(nic: $nic) { fullName dateOfBirth sex birthRegistrationNumber birthPlace district }
  person(nic: $nic) { fullName otherNames permanentAddress profession }
}`;

/** A bearer token renewed before it expires (at 80% of its lifetime), as a client would keep one. */
export function cachedToken(fetchToken: () => Promise<{ token: string; expiresIn: number }>) {
  let current: { token: string; renewAt: number } | undefined;
  let renewing: Promise<string> | undefined;
  return async (): Promise<string> => {
    if (current && performance.now() < current.renewAt) return current.token;
    renewing ??= fetchToken()
      .then(({ token, expiresIn }) => {
        current = { token, renewAt: performance.now() + expiresIn * 800 };
        return token;
      })
      .finally(() => (renewing = undefined));
    return renewing;
  };
}

/** Client-credentials token from an OAuth2 token endpoint (HTTP Basic client authentication). */
export async function clientCredentials(
  tokenUrl: string,
  clientId: string,
  secret: string,
  extra: Record<string, string> = {},
): Promise<{ token: string; expiresIn: number }> {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...extra }),
  });
  const body = (await response.json()) as { access_token?: string; expires_in?: number; error?: string };
  if (!body.access_token) throw new Error(`no token from ${tokenUrl}: ${response.status} ${body.error}`);
  return { token: body.access_token, expiresIn: body.expires_in ?? 300 };
}

export interface GraphqlTarget {
  pool: Pool;
  close: () => Promise<void>;
}

export function target(origin: string): GraphqlTarget {
  const pool = new Pool(origin, { connections: 1_024, pipelining: 1, keepAliveTimeout: 30_000 });
  return { pool, close: () => pool.close() };
}

interface GraphqlAnswer {
  data?: Record<string, unknown> | null;
  errors?: unknown[];
}

/** POSTs one GraphQL operation; the parsed answer when the status is 200, otherwise undefined. */
export async function postGraphql(
  pool: Pool,
  headers: Record<string, string>,
  query: string,
  variables: Record<string, unknown>,
): Promise<GraphqlAnswer | undefined> {
  const { statusCode, body } = await pool.request({
    path: '/graphql',
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const answer = (await body.json()) as GraphqlAnswer;
  return statusCode === 200 ? answer : undefined;
}

/** True when the answer has no errors and every named root field holds an object. */
export function complete(answer: GraphqlAnswer | undefined, roots: readonly string[]): boolean {
  if (!answer || (answer.errors && answer.errors.length > 0) || !answer.data) return false;
  return roots.every((root) => {
    const value = answer.data![root];
    return typeof value === 'object' && value !== null;
  });
}

export interface Paths {
  direct: Call;
  ndx: Call;
  peerDedupOn: Call;
  peerDedupOff: Call;
}

export function randomOf<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)]!;
}

/**
 * The three ways of getting the passport fields for a random citizen with consent:
 * - direct: RGD and the DRP adapter in parallel, each with its own credentials (RGD's client-credentials
 *   token, cached until it nearly expires, as the OE caches it; the adapter's API key);
 * - ndx: the passport query through the OE with the passport app's FUDI token;
 * - peer: the same two sources composed by Hive Gateway, one operation for both root fields.
 */
export function buildPaths(options: {
  citizens: readonly string[];
  rgd: GraphqlTarget;
  drp: GraphqlTarget;
  oe: GraphqlTarget;
  peerOn: GraphqlTarget;
  peerOff: GraphqlTarget;
  rgdToken: () => Promise<string>;
  drpApiKey: string;
  passportToken: () => Promise<string>;
}): Paths {
  const { citizens } = options;
  const peer = (gateway: GraphqlTarget): Call => {
    return async () => {
      const nic = randomOf(citizens);
      return complete(await postGraphql(gateway.pool, {}, PEER_QUERY, { nic }), ['getPersonInfo', 'person']);
    };
  };
  return {
    direct: async () => {
      const nic = randomOf(citizens);
      const token = await options.rgdToken();
      const [rgd, drp] = await Promise.all([
        postGraphql(options.rgd.pool, { authorization: `Bearer ${token}` }, RGD_QUERY, { nic }),
        postGraphql(options.drp.pool, { 'x-api-key': options.drpApiKey }, DRP_QUERY, { nic }),
      ]);
      return complete(rgd, ['getPersonInfo']) && complete(drp, ['person']);
    },
    ndx: async () => {
      const nic = randomOf(citizens);
      const token = await options.passportToken();
      const answer = await postGraphql(
        options.oe.pool,
        { authorization: `Bearer ${token}` },
        PASSPORT_QUERY,
        { nic },
      );
      if (!complete(answer, ['personInfo'])) return false;
      const person = answer!.data!['personInfo'] as Record<string, unknown>;
      return person['name'] !== null && person['fullName'] !== null;
    },
    peerDedupOn: peer(options.peerOn),
    peerDedupOff: peer(options.peerOff),
  };
}
