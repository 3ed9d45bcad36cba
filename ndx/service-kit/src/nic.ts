/**
 * Farajaland national identity card numbers, in both formats in use:
 *   old: 9 digits and V or X (e.g. 852321234V)
 *   new: 12 digits           (e.g. 199560201234)
 */
export const NIC_PATTERN = /^(?:\d{9}[VX]|\d{12})$/;

/** Upper-cases and trims a NIC; returns undefined when it is not a NIC in either format. */
export function normaliseNic(input: string): string | undefined {
  const nic = input.trim().toUpperCase();
  return NIC_PATTERN.test(nic) ? nic : undefined;
}
