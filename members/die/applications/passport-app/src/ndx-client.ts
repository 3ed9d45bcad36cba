import {
  createClientCredentialsSource,
  httpCall,
  NdxError,
  type AccessTokenSource,
  type Logger,
} from '@ndx/service-kit';
import type { Config } from './config.ts';
import { END_USER_HEADER, formatEndUser, type EndUser, type Nic } from '@ndx/contract';
import {
  failedLookup,
  graphQLResponseSchema,
  interpretAnswer,
  PASSPORT_QUERY,
  type GraphQLResponse,
  type Lookup,
  type LookupTrigger,
} from './passport-lookup.ts';

/** The passport app's view of NDX: one lookup per call, never throwing for NDX's own failures. */
export interface NdxClient {
  /** Looks the citizen up for the signed-in end user (an applicant or an officer), who NDX is told about. */
  lookUp(nic: Nic, trigger: LookupTrigger, endUser: EndUser): Promise<Lookup>;
}

/**
 * Calls the NDX API with the app's own client-credentials token (held only by this server), the
 * `NDX-Purpose` header, and the `NDX-End-User` header naming the signed-in person it asks for (NDX
 * records it in the audit log). A 401 gets one retry with a fresh token. Anything that stops NDX
 * from answering becomes a FAILED lookup with a problem code, so the officer can still finish by hand.
 */
export function createNdxClient(config: Config, logger: Logger, now: () => Date): NdxClient {
  const tokens = createClientCredentialsSource({
    tokenUrl: `${config.FUDI_ISSUER.replace(/\/$/, '')}/token`,
    clientId: config.PASSPORT_APP_CLIENT_ID,
    clientSecret: config.PASSPORT_APP_CLIENT_SECRET,
    resource: config.NDX_API_RESOURCE,
    timeoutMs: Math.min(config.NDX_API_TIMEOUT_MS, 10_000),
  });
  const endpoint = `${config.NDX_API_URL.replace(/\/$/, '')}/graphql`;

  return {
    async lookUp(nic, trigger, endUser) {
      try {
        const asking = formatEndUser(endUser);
        let answer = await post(endpoint, tokens, config, nic, asking);
        if (answer.unauthenticated) {
          tokens.invalidate();
          answer = await post(endpoint, tokens, config, nic, asking);
        }
        if (answer.unauthenticated) {
          return failedLookup(
            { code: 'UNAUTHENTICATED', message: 'NDX did not accept the passport app’s credentials' },
            trigger,
            now(),
          );
        }
        return interpretAnswer(answer.body, trigger, now());
      } catch (err) {
        const problem =
          err instanceof NdxError
            ? { code: err.code, message: err.message }
            : { code: 'NDX_ERROR', message: 'NDX could not be asked' };
        logger.warn({ code: problem.code, err: (err as Error).message }, 'NDX lookup failed');
        return failedLookup(problem, trigger, now());
      }
    },
  };
}

interface Answer {
  unauthenticated: boolean;
  body: GraphQLResponse;
}

async function post(
  endpoint: string,
  tokens: AccessTokenSource,
  config: Config,
  nic: Nic,
  endUser: string,
): Promise<Answer> {
  const token = await tokens.getToken();
  const response = await httpCall(endpoint, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'ndx-purpose': config.NDX_PURPOSE,
      [END_USER_HEADER.toLowerCase()]: endUser,
      accept: 'application/graphql-response+json, application/json',
    },
    body: { query: PASSPORT_QUERY, operationName: 'Passport', variables: { nic } },
    timeoutMs: config.NDX_API_TIMEOUT_MS,
  });
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch {
    throw new NdxError('NDX_ERROR', `NDX answered HTTP ${response.status} with a body that is not JSON`, 502);
  }
  const parsed = graphQLResponseSchema.safeParse(json);
  if (!parsed.success) {
    throw new NdxError('NDX_ERROR', `NDX answered HTTP ${response.status} with an unexpected body`, 502);
  }
  const unauthenticated =
    response.status === 401 ||
    (parsed.data.errors ?? []).some((e) => e.extensions?.code === 'UNAUTHENTICATED' && !e.path);
  return { unauthenticated, body: parsed.data };
}
