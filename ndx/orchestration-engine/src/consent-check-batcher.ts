import {
  MAX_CONSENT_CHECKS_PER_CALL,
  type ConsentCheckBatchResponse,
  type ConsentCheckRequestBody,
  type ConsentCheckResponse,
} from '@ndx/contract';
import { UpstreamError } from '@ndx/service-kit';

export interface ConsentCheckBatcherOptions {
  /** Sends one batch (`POST /v1/consents/checks`) and returns its parsed answer. */
  send: (checks: ConsentCheckRequestBody[]) => Promise<ConsentCheckBatchResponse>;
  /** Most checks in one call (default and upper bound: MAX_CONSENT_CHECKS_PER_CALL). */
  maxBatch?: number;
  /** Calls in flight at once (default 2); checks arriving while that many are in flight wait for the next. */
  maxInFlight?: number;
}

interface Waiting {
  request: ConsentCheckRequestBody;
  resolve: (answer: ConsentCheckResponse) => void;
  reject: (err: unknown) => void;
}

/**
 * Groups the coverage checks of concurrent queries into calls of `POST /v1/consents/checks`: a check is sent
 * at once while fewer than `maxInFlight` calls are in flight, and otherwise joins the next call, sent as soon
 * as one returns. A check only ever joins a call that has not been sent yet, and the CE reads the consents
 * after it received the call, so every check still reads the consents as they are after its query started:
 * a revocation the citizen saw before a query started is seen by that query's check (docs/consent.md).
 * A call that fails fails every check in it (each gate then fails closed); a check the CE refused fails alone.
 */
export function createConsentCheckBatcher(options: ConsentCheckBatcherOptions) {
  const maxBatch = Math.max(
    1,
    Math.min(options.maxBatch ?? MAX_CONSENT_CHECKS_PER_CALL, MAX_CONSENT_CHECKS_PER_CALL),
  );
  const maxInFlight = Math.max(1, options.maxInFlight ?? 2);
  let queue: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;

  const send = async (batch: Waiting[]) => {
    let answer: ConsentCheckBatchResponse;
    try {
      answer = await options.send(batch.map((w) => w.request));
      if (answer.results.length !== batch.length) {
        throw new UpstreamError(
          `the consent engine answered ${answer.results.length} results for ${batch.length} checks`,
        );
      }
    } catch (err) {
      for (const waiting of batch) waiting.reject(err);
      return;
    }
    answer.results.forEach((result, i) => {
      if ('ok' in result) batch[i]!.resolve(result.ok);
      else
        batch[i]!.reject(
          new UpstreamError(`the consent engine refused a check: ${result.error.message}`, {
            code: result.error.code,
          }),
        );
    });
  };

  const pump = () => {
    scheduled = false;
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      inFlight += 1;
      void send(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  };

  return {
    /** The CE's coverage answer for this check, from a call sent after this was called. */
    check(request: ConsentCheckRequestBody): Promise<ConsentCheckResponse> {
      return new Promise<ConsentCheckResponse>((resolve, reject) => {
        queue.push({ request, resolve, reject });
        // Checks that arrive in the same turn of the event loop (queries read from several connections at
        // once) go together; nothing waits on a timer.
        if (!scheduled) {
          scheduled = true;
          setImmediate(pump);
        }
      });
    },
    /** Checks waiting for a call, and calls in flight (for tests). */
    state: () => ({ waiting: queue.length, inFlight }),
  };
}
export type ConsentCheckBatcher = ReturnType<typeof createConsentCheckBatcher>;
