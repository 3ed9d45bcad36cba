import { normaliseNic } from '@ndx/service-kit';

/** A Farajaland National Identity Card number in canonical form (old `123456789V` or new 12 digits). */
export type Nic = string & { readonly __brand: 'Nic' };

export const NIC_FORMAT_HINT =
  '9 digits and V or X (older cards, e.g. 852321234V), or 12 digits (newer cards)';

/**
 * The NIC in canonical form (letter upper-cased; spaces and dashes an officer may type are dropped),
 * or undefined when it is in neither format.
 */
export function parseNic(input: unknown): Nic | undefined {
  if (typeof input !== 'string' || input.length > 40) return undefined;
  return normaliseNic(input.replace(/[\s-]/g, '')) as Nic | undefined;
}
