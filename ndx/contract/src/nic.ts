import { z } from 'zod';

/**
 * Farajaland National Identity Card numbers, the one rule of the exchange.
 *
 * Canonical form, the only spelling stored, compared, sent to providers or written to the audit log:
 *   old cards: 9 digits and an upper-case V or X (e.g. `852321234V`)
 *   new cards: 12 digits                          (e.g. `199560201234`)
 *
 * Input tolerance, the same wherever a person types or an app passes a NIC (FUDI sign-in, the OE's
 * query arguments, the consent engine, the passport app): whitespace anywhere (around and inside, as
 * in `1995 6020 1234`) and ASCII hyphens anywhere (as in `1995-602-01234`) are dropped, and the letter
 * is upper-cased. Nothing else is forgiven (no other separators, no look-alike characters), and input
 * longer than {@link MAX_NIC_INPUT_LENGTH} is refused before it is looked at.
 *
 * Providers' registries are systems of record and take the canonical form only: they check with
 * {@link isCanonicalNic}, never with {@link parseNic}.
 */

/** A NIC in canonical form; only {@link parseNic} and {@link isCanonicalNic} make one. */
export type Nic = string & { readonly __brand: 'Nic' };

/** The canonical form: 9 digits and V or X, or 12 digits. */
export const NIC_PATTERN = /^(?:\d{9}[VX]|\d{12})$/;

/** Longer input is not a NIC however it is spaced. */
export const MAX_NIC_INPUT_LENGTH = 64;

/** What a NIC looks like, for error messages and form hints. */
export const NIC_FORMAT = '9 digits and V or X (older cards, e.g. 852321234V), or 12 digits (newer cards)';

/** True when text is already a NIC in canonical form (no tolerance applied). */
export function isCanonicalNic(text: unknown): text is Nic {
  return typeof text === 'string' && NIC_PATTERN.test(text);
}

/**
 * The input with the tolerance rule applied (whitespace and hyphens dropped, upper-cased), whether
 * or not the result is a NIC: for echoing a sign-in form back, or keying a throttle on what was typed.
 */
export function tidyNicInput(input: string): string {
  return input.replace(/[\s-]+/g, '').toUpperCase();
}

/** The NIC in canonical form, or null when the input is not a NIC in either format. */
export function parseNic(input: unknown): Nic | null {
  if (typeof input !== 'string' || input.length > MAX_NIC_INPUT_LENGTH) return null;
  const tidied = tidyNicInput(input);
  return isCanonicalNic(tidied) ? tidied : null;
}

/** A NIC typed or passed by an app, parsed to canonical form (zod; fails with a message naming the formats). */
export const nicSchema = z
  .string()
  .max(MAX_NIC_INPUT_LENGTH, `must be a NIC: ${NIC_FORMAT}`)
  .transform((input, ctx) => {
    const nic = parseNic(input);
    if (nic === null) {
      ctx.addIssue({ code: 'custom', message: `must be a NIC: ${NIC_FORMAT}` });
      return z.NEVER;
    }
    return nic;
  });
