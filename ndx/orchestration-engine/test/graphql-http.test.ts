/**
 * GraphQL over HTTP's legacy watershed in the OE: which media type an answer gets for an Accept header, and which
 * answers in application/json turn from 400 to 200.
 */
import { describe, expect, it } from 'vitest';
import { legacyWatershedStatus, negotiateMediaType } from '../src/graphql-http.ts';

describe('the media type of an answer', () => {
  it.each([
    [undefined, 'application/json'],
    ['', 'application/json'],
    ['*/*', 'application/json'],
    ['application/json', 'application/json'],
    ['application/graphql-response+json', 'application/graphql-response+json'],
    ['application/graphql-response+json, application/json', 'application/graphql-response+json'],
    ['application/json, application/graphql-response+json', 'application/json'],
    ['application/json;q=0.9, application/graphql-response+json', 'application/graphql-response+json'],
    ['application/*', 'application/json'],
    ['application/graphql-response+json, */*;q=0.1', 'application/graphql-response+json'],
    ['application/json;q=0, */*', 'application/graphql-response+json'],
    ['text/html', 'application/json'],
  ])('Accept %j gives %s', (accept, expected) => {
    expect(negotiateMediaType(accept)).toBe(expected);
  });
});

describe('the status of a GraphQL request error', () => {
  const body = (codes: string[], data?: unknown) =>
    JSON.stringify({
      errors: codes.map((code) => ({ message: 'm', extensions: { code } })),
      ...(data === undefined ? {} : { data }),
    });

  it('is 200 in application/json for parse, validation, operation and input errors', () => {
    for (const code of [
      'GRAPHQL_PARSE_FAILED',
      'GRAPHQL_VALIDATION_FAILED',
      'OPERATION_RESOLUTION_FAILURE',
      'OPERATION_NOT_SUPPORTED',
      'BAD_USER_INPUT',
    ]) {
      expect(legacyWatershedStatus(400, 'application/json; charset=utf-8', body([code, code]))).toBe(200);
    }
  });

  it('stays 400 in application/graphql-response+json', () => {
    expect(
      legacyWatershedStatus(
        400,
        'application/graphql-response+json; charset=utf-8',
        body(['GRAPHQL_PARSE_FAILED']),
      ),
    ).toBe(400);
  });

  it('stays what it was for a malformed HTTP request, a refusal, or an answer with data', () => {
    const json = 'application/json; charset=utf-8';
    expect(legacyWatershedStatus(400, json, body(['BAD_REQUEST']))).toBe(400);
    expect(legacyWatershedStatus(400, json, body(['GRAPHQL_PARSE_FAILED', 'BAD_REQUEST']))).toBe(400);
    expect(legacyWatershedStatus(400, json, body(['INVALID_END_USER']))).toBe(400);
    expect(legacyWatershedStatus(400, json, body(['BAD_USER_INPUT'], null))).toBe(400);
    expect(legacyWatershedStatus(400, json, 'not json')).toBe(400);
    expect(legacyWatershedStatus(413, json, body(['PAYLOAD_TOO_LARGE']))).toBe(413);
    expect(legacyWatershedStatus(429, json, body(['RATE_LIMITED']))).toBe(429);
    expect(legacyWatershedStatus(401, json, body(['UNAUTHENTICATED']))).toBe(401);
  });
});
