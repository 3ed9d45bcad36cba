import {
  consumerRegistryPath,
  registeredConsumerSchema,
  unknownConsumerCode,
  type RegisteredConsumer,
} from '@ndx/contract';
import { httpCall, NdxError, type AccessTokenSource, type HttpResponse } from '@ndx/service-kit';

/** At most this many clients' answers are kept (the oldest is dropped first). */
const MAX_ENTRIES = 1_000;

/** The PDP could not say whether the client is a consumer: nothing is answered (fail closed). */
export class ConsumerRegistryUnavailableError extends NdxError {
  constructor(cause: unknown) {
    super(
      'POLICY_UNAVAILABLE',
      'the policy decision point could not confirm the consumer registration; nothing was answered',
      503,
    );
    this.cause = cause;
  }
}

export interface ConsumerRegistry {
  /**
   * The consumer as the PDP registers it, or null when the PDP says the client is no consumer; throws
   * ConsumerRegistryUnavailableError when the PDP cannot answer.
   */
  lookup(consumerId: string): Promise<RegisteredConsumer | null>;
  /** Forgets every answer (a new policy version may register, change or remove consumers). */
  clear(): void;
}

export interface ConsumerRegistryOptions {
  /** The PDP's base URL. */
  baseUrl: string;
  /** The OE's own FUDI token for the PDP. */
  tokens: AccessTokenSource;
  timeoutMs: number;
  /** How long an answer about one client (registered or not) is reused; 0 asks on every lookup. */
  cacheMs: number;
  now?: () => number;
}

/**
 * The PDP's consumer registry (`GET /v1/consumers/{id}`), each answer (a consumer, or none) reused for
 * `cacheMs`; concurrent lookups of one client share one call. Failures are never cached.
 */
export function createConsumerRegistry(options: ConsumerRegistryOptions): ConsumerRegistry {
  const { cacheMs } = options;
  const now = options.now ?? Date.now;
  const answers = new Map<string, { consumer: RegisteredConsumer | null; until: number }>();
  const inFlight = new Map<string, Promise<RegisteredConsumer | null>>();

  const get = async (consumerId: string): Promise<HttpResponse> => {
    const call = async () =>
      httpCall(`${options.baseUrl}${consumerRegistryPath(consumerId)}`, {
        headers: { accept: 'application/json', authorization: `Bearer ${await options.tokens.getToken()}` },
        timeoutMs: options.timeoutMs,
      });
    const response = await call();
    if (response.status !== 401) return response;
    // Our token revoked or rotated under us: fetch a new one and try once more.
    options.tokens.invalidate();
    return call();
  };

  const ask = async (consumerId: string): Promise<RegisteredConsumer | null> => {
    let response: HttpResponse;
    try {
      response = await get(consumerId);
    } catch (err) {
      throw new ConsumerRegistryUnavailableError(err);
    }
    const consumer = readAnswer(consumerId, response);
    answers.delete(consumerId);
    answers.set(consumerId, { consumer, until: now() + cacheMs });
    while (answers.size > MAX_ENTRIES) answers.delete(answers.keys().next().value as string);
    return consumer;
  };

  return {
    async lookup(consumerId) {
      const cached = answers.get(consumerId);
      if (cached && now() < cached.until) return cached.consumer;
      let pending = inFlight.get(consumerId);
      if (!pending) {
        pending = ask(consumerId).finally(() => inFlight.delete(consumerId));
        inFlight.set(consumerId, pending);
      }
      return pending;
    },
    clear() {
      answers.clear();
    },
  };
}

/** 200 with this consumer, or 404 UNKNOWN_CONSUMER; anything else means the PDP could not answer. */
function readAnswer(consumerId: string, response: HttpResponse): RegisteredConsumer | null {
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    throw new ConsumerRegistryUnavailableError(
      new Error(`HTTP ${response.status} with a body that is not JSON`),
    );
  }
  if (response.status === 404 && errorCodeOf(body) === unknownConsumerCode) return null;
  if (response.status !== 200)
    throw new ConsumerRegistryUnavailableError(
      new Error(`HTTP ${response.status}: ${response.text.slice(0, 300)}`),
    );
  const parsed = registeredConsumerSchema.safeParse(body);
  if (!parsed.success || parsed.data.consumerId !== consumerId)
    throw new ConsumerRegistryUnavailableError(new Error(`an answer of the wrong shape for ${consumerId}`));
  return parsed.data;
}

function errorCodeOf(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}
