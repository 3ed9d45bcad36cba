import { NIC_PATTERN } from '@ndx/contract';
import { BadUserInputError } from './errors.ts';

/** A format an argument must have; a mismatch is a `BAD_USER_INPUT` error naming the argument. */
export interface ArgumentRule {
  pattern: RegExp;
  /** What a valid value looks like, for the error message. */
  description: string;
}

/** Farajaland NIC, old format (9 digits and V or X) or new format (12 digits). */
export const nicRule: ArgumentRule = {
  pattern: NIC_PATTERN,
  description: 'a NIC: 9 digits followed by V or X, or 12 digits',
};

/** Checks each argument that has a rule; absent (null) arguments are left to the schema's nullability. */
export function checkArguments(
  field: string,
  rules: Record<string, ArgumentRule> | undefined,
  args: Record<string, unknown>,
): void {
  for (const [name, rule] of Object.entries(rules ?? {})) {
    const value = args[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !rule.pattern.test(value)) {
      throw new BadUserInputError(`${field}: argument ${name} must be ${rule.description}`, {
        argument: name,
      });
    }
  }
}

/** A SOAP/XML list: absent → [], one element → [it], many → them. */
export function asArray<T>(value: T | T[] | null | undefined): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}
