import { z } from 'zod';

/**
 * The end user on whose behalf a consumer asks: an app signs its user in with FUDI and passes who it
 * is with each query, so the audit record and the citizen's access log can say whether the applicant
 * or an officer asked. NDX does not verify it: it is recorded as asserted by the consumer.
 *
 * Header format (one line): `NDX-End-User: sub=<FUDI subject>;role=<applicant|officer>`,
 * e.g. `sub=852321234V;role=applicant`. Both keys exactly once, in any order, no other keys.
 */

/** The header a consumer sends the end user in (HTTP header names are case-insensitive). */
export const END_USER_HEADER = 'NDX-End-User';

/** Who the end user is to the request: the citizen applying, or an officer handling the case. */
export const endUserRoleSchema = z.enum(['applicant', 'officer']);
export type EndUserRole = z.infer<typeof endUserRoleSchema>;

/** A FUDI subject: 1 to 128 characters, letters, digits and `. _ : @ + -` (no separators of the header). */
export const END_USER_SUBJECT_PATTERN = /^[A-Za-z0-9._:@+-]{1,128}$/;

export const endUserSchema = z.strictObject({
  subject: z
    .string()
    .regex(END_USER_SUBJECT_PATTERN, 'must be a FUDI subject (1-128 of A-Z a-z 0-9 . _ : @ + -)'),
  role: endUserRoleSchema,
});
export type EndUser = z.infer<typeof endUserSchema>;

/** What the header should look like, for error messages. */
export const END_USER_FORMAT = 'sub=<FUDI subject>;role=applicant|officer';

/** Longer header values are refused before they are looked at. */
const MAX_HEADER_LENGTH = 256;

/** The header value for an end user (throws on an end user the schema refuses). */
export function formatEndUser(endUser: EndUser): string {
  const parsed = endUserSchema.parse(endUser);
  return `sub=${parsed.subject};role=${parsed.role}`;
}

/**
 * The end user a header value names, or null when it is not in {@link END_USER_FORMAT}.
 * Whitespace around the value, its parts and `=` is tolerated; nothing else is.
 */
export function parseEndUser(value: unknown): EndUser | null {
  if (typeof value !== 'string' || value.length > MAX_HEADER_LENGTH) return null;
  const fields = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const key = part.slice(0, eq).trim();
    const text = part.slice(eq + 1).trim();
    if ((key !== 'sub' && key !== 'role') || fields.has(key)) return null;
    fields.set(key, text);
  }
  const result = endUserSchema.safeParse({ subject: fields.get('sub'), role: fields.get('role') });
  return result.success ? result.data : null;
}
