import { createClientAsync, WSSecurity, type Client, type IHttpClient } from 'soap';
import { httpCall, UpstreamUnavailableError } from '@ndx/service-kit';
import type { z } from 'zod';
import { ProviderError } from './errors.ts';
import { observedCall, type FieldFetcher, type UpstreamSource } from './upstream.ts';

export interface SoapSourceOptions {
  /** Name in logs, metrics and errors, e.g. `dmt-soap-api`. */
  name: string;
  /** The service endpoint, e.g. http://127.0.0.1:9093/vehicles; the WSDL is read from `${url}?wsdl`. */
  url: string;
  timeoutMs: number;
  /** Sent on every call (e.g. credentials the legacy system expects). */
  headers?: Record<string, string>;
  /**
   * Credentials for a WS-Security UsernameToken (OASIS UsernameToken Profile, PasswordDigest) sent
   * in the SOAP header of every call, with a fresh random wsse:Nonce and wsu:Created each time.
   */
  usernameToken?: { username: string; password: string };
}

export interface SoapSource extends UpstreamSource {
  readonly kind: 'soap';
  /** Calls one operation; resolves with the operation's result object. Failures become ProviderError. */
  invoke(operation: string, input: Record<string, unknown>): Promise<unknown>;
}

/** Per-call state the HTTP layer fills in, so failures can report the upstream status. */
interface CallRecord {
  status?: number;
}

/**
 * The `soap` package's HTTP layer replaced by the service kit's httpCall: keep-alive, our timeout,
 * and the W3C traceparent of the current request on every legacy call.
 */
function kitHttpClient(source: SoapSourceOptions): IHttpClient {
  return {
    request(url, data, callback, exheaders, exoptions) {
      const record = exoptions?.['ndxCall'] as CallRecord | undefined;
      const headers: Record<string, string> = { ...source.headers };
      for (const [key, value] of Object.entries(exheaders ?? {})) {
        if (value !== undefined && value !== null) headers[key] = String(value);
      }
      const promise = httpCall(url, {
        method: data === null || data === undefined ? 'GET' : 'POST',
        headers,
        body: typeof data === 'string' ? data : undefined,
        timeoutMs: source.timeoutMs,
      }).then(
        (response) => {
          if (record) record.status = response.status;
          const res = { status: response.status, headers: response.headers, data: response.text };
          callback(null, res, response.text);
          return res;
        },
        (err: unknown) => {
          callback(err);
          return undefined;
        },
      );
      return promise as unknown as ReturnType<IHttpClient['request']>;
    },
  };
}

/** The `soap` package's WS-Security header: digest of nonce + Created + password, no wsu:Timestamp. */
function usernameTokenSecurity(credentials: { username: string; password: string }): WSSecurity {
  return new WSSecurity(credentials.username, credentials.password, {
    passwordType: 'PasswordDigest',
    hasTimeStamp: false,
    hasTokenCreated: true,
    mustUnderstand: true,
  });
}

/** A legacy SOAP service; the client is built from its WSDL on first use (and rebuilt if that failed). */
export function soapSource(options: SoapSourceOptions): SoapSource {
  const endpoint = options.url.replace(/\?.*$/, '');
  const wsdlUrl = `${endpoint}?wsdl`;
  let client: Promise<Client> | undefined;

  const getClient = (): Promise<Client> => {
    client ??= createClientAsync(wsdlUrl, {
      httpClient: kitHttpClient(options),
      endpoint,
      disableCache: true,
    }).then(
      (created) => {
        if (options.usernameToken) created.setSecurity(usernameTokenSecurity(options.usernameToken));
        return created;
      },
      (err: unknown) => {
        client = undefined;
        throw err;
      },
    );
    return client;
  };

  return {
    name: options.name,
    kind: 'soap',
    async invoke(operation, input) {
      let soap: Client;
      try {
        soap = await getClient();
      } catch (err) {
        throw toProviderError(options, err, {});
      }
      const method = (soap as unknown as Record<string, unknown>)[`${operation}Async`];
      if (typeof method !== 'function')
        throw new Error(`the WSDL of ${options.name} has no operation ${operation}`);
      const record: CallRecord = {};
      try {
        const [result] = (await method.call(soap, input, { ndxCall: record })) as [unknown];
        return result;
      } catch (err) {
        throw toProviderError(options, err, record);
      }
    },
    async isReachable() {
      try {
        const response = await httpCall(wsdlUrl, { timeoutMs: Math.min(options.timeoutMs, 2_000) });
        return response.status === 200 && response.text.includes('definitions');
      } catch {
        return false;
      }
    },
  };
}

function toProviderError(source: SoapSourceOptions, err: unknown, record: CallRecord): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof UpstreamUnavailableError) {
    const timeout = err.details?.['reason'] === 'timeout';
    return new ProviderError(
      timeout
        ? `${source.name} did not answer within ${source.timeoutMs} ms`
        : `${source.name} could not be reached`,
      { source: source.name, reason: timeout ? 'timeout' : 'unreachable' },
    );
  }
  const fault = faultOf(err);
  const upstreamStatus = record.status;
  if (fault) {
    return new ProviderError(`${source.name} answered with SOAP fault ${fault.code}: ${fault.message}`, {
      source: source.name,
      reason: 'fault',
      faultCode: fault.code,
      ...(upstreamStatus !== undefined ? { upstreamStatus } : {}),
    });
  }
  const failedStatus = upstreamStatus !== undefined && (upstreamStatus < 200 || upstreamStatus >= 300);
  return new ProviderError(
    failedStatus
      ? `${source.name} answered HTTP ${upstreamStatus}`
      : `${source.name} answered with something that is not a SOAP response`,
    {
      source: source.name,
      reason: failedStatus ? 'status' : 'invalid-response',
      ...(upstreamStatus !== undefined ? { upstreamStatus } : {}),
    },
  );
}

function faultOf(err: unknown): { code: string; message: string } | undefined {
  const root = (err as { root?: { Envelope?: { Body?: { Fault?: Record<string, unknown> } } } })?.root;
  const fault = root?.Envelope?.Body?.Fault;
  if (!fault) return undefined;
  const text = (v: unknown) =>
    typeof v === 'string' ? v : typeof v === 'object' && v && '$value' in v ? String(v.$value) : undefined;
  return {
    code: text(fault['faultcode']) ?? 'unknown',
    message: text(fault['faultstring']) ?? 'no fault string',
  };
}

export interface SoapFieldSpec<Result> {
  operation: string;
  /** GraphQL arguments → the operation's input element. */
  input: (args: Record<string, unknown>) => Record<string, unknown>;
  /** The operation's result shape; an answer that does not match is a PROVIDER_ERROR. */
  response: z.ZodType<Result>;
  /** Result → GraphQL shape; return null for "not found". */
  map: (result: Result, args: Record<string, unknown>) => unknown;
}

/** A root field answered by one SOAP operation; faults, timeouts and garbage become PROVIDER_ERROR. */
export function soapField<Result>(source: SoapSource, spec: SoapFieldSpec<Result>): FieldFetcher {
  return (args, ctx) =>
    observedCall(ctx, source.name, spec.operation, async () => {
      const result = await source.invoke(spec.operation, spec.input(args));
      const parsed = spec.response.safeParse(result ?? {});
      if (!parsed.success) {
        throw new ProviderError(`${source.name} ${spec.operation} answered in an unexpected shape`, {
          source: source.name,
          reason: 'invalid-response',
        });
      }
      const value = spec.map(parsed.data, args);
      return { value, outcome: value === null ? 'not-found' : 'ok' };
    });
}
