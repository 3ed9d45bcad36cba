/**
 * GraphQL over HTTP (the GraphQL Foundation's spec, legacy watershed): which media type an answer uses, and which
 * status a GraphQL request error gets in it. For `application/json` (a client that sends no Accept header, accepts any
 * type, or prefers it) every well-formed request is answered 200, request errors included, with `errors` and no `data`;
 * for `application/graphql-response+json` a request error keeps its 4xx. Failures of the HTTP request itself (not
 * JSON, no query, a body too large, a form post, no token, too many requests) keep their 4xx in both.
 */

export const APPLICATION_JSON = 'application/json';
export const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json';
export type ResponseMediaType = typeof APPLICATION_JSON | typeof GRAPHQL_RESPONSE_JSON;

/**
 * The codes of GraphQL request errors: the document does not parse, does not validate (limits included), names no
 * operation it holds or one NDX does not answer, or its variables or arguments are not valid input.
 */
export const REQUEST_ERROR_CODES: ReadonlySet<string> = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'OPERATION_NOT_SUPPORTED',
  'BAD_USER_INPUT',
]);

const CANDIDATES: readonly ResponseMediaType[] = [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON];

interface AcceptRange {
  type: string;
  subtype: string;
  q: number;
  order: number;
}

function acceptRanges(accept: string): AcceptRange[] {
  return accept.split(',').flatMap((part, order) => {
    const [range = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const [type, subtype] = range.split('/');
    if (!type || !subtype) return [];
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    return Number.isFinite(q) ? [{ type, subtype, q, order }] : [];
  });
}

/**
 * The media type of an answer to this Accept header, chosen as Apollo Server (the `negotiator` package) chooses
 * between the two: the highest q, then the more specific range, then the earlier in the header, then
 * application/json. No header, or neither type acceptable: application/json (the legacy default).
 */
export function negotiateMediaType(accept: string | undefined): ResponseMediaType {
  if (!accept?.trim()) return APPLICATION_JSON;
  const ranges = acceptRanges(accept);
  const ranked = CANDIDATES.flatMap((candidate, index) => {
    const [type, subtype] = candidate.split('/') as [string, string];
    let best: { s: number; q: number; order: number } | undefined;
    for (const range of ranges) {
      const s =
        range.type === type && range.subtype === subtype
          ? 2
          : range.type === type && range.subtype === '*'
            ? 1
            : range.type === '*' && range.subtype === '*'
              ? 0
              : -1;
      if (s < 0) continue;
      if (!best || s > best.s || (s === best.s && range.q > best.q))
        best = { s, q: range.q, order: range.order };
    }
    return best && best.q > 0 ? [{ candidate, index, ...best }] : [];
  });
  ranked.sort((a, b) => b.q - a.q || b.s - a.s || a.order - b.order || a.index - b.index);
  return ranked[0]?.candidate ?? APPLICATION_JSON;
}

/** The media type (without parameters) of a Content-Type header value. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * The status an answer is sent with: a 400 in `application/json` whose body is a GraphQL request error (no
 * `data`, every error's code one of REQUEST_ERROR_CODES) becomes 200; any other answer keeps its status.
 */
export function legacyWatershedStatus(status: number, contentType: string | undefined, body: string): number {
  if (status !== 400 || mediaTypeOf(contentType) !== APPLICATION_JSON) return status;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return status;
  }
  const { data, errors } = (parsed ?? {}) as { data?: unknown; errors?: unknown };
  const requestError =
    data === undefined &&
    Array.isArray(errors) &&
    errors.length > 0 &&
    errors.every((e) =>
      REQUEST_ERROR_CODES.has((e as { extensions?: { code?: string } })?.extensions?.code ?? ''),
    );
  return requestError ? 200 : status;
}
