import { z } from 'zod';
import { NIC_FORMAT, parseNic, type Nic } from './nic.ts';

/**
 * The data-subject rule: which root fields of the unified schema are about one person, and which of
 * their arguments names that person. It is configuration (`dataSubjects` in fl-config.json), never a
 * field name compared in code: every field under such a root is decided by the PDP and the CE for
 * that person, and a root no rule names concerns no one (reference data, a vehicle by number).
 */

const graphqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a GraphQL name');

/** One root field about a person, e.g. `{ rootField: 'personInfo', argument: 'nic', identifier: 'nic' }`. */
export const dataSubjectRuleSchema = z.strictObject({
  /** A root field of the unified schema (a field of Query). */
  rootField: graphqlName,
  /** The argument of that root field that names the person. */
  argument: graphqlName,
  /** What the argument holds: a Farajaland NIC (the only identifier of a person the exchange knows). */
  identifier: z.literal('nic'),
});
export type DataSubjectRule = z.infer<typeof dataSubjectRuleSchema>;

/** Every rule; a root field is named at most once. */
export const dataSubjectRulesSchema = z.array(dataSubjectRuleSchema).superRefine((rules, ctx) => {
  const seen = new Set<string>();
  rules.forEach((rule, index) => {
    if (seen.has(rule.rootField)) {
      ctx.addIssue({
        code: 'custom',
        path: [index, 'rootField'],
        message: `"${rule.rootField}" is named by more than one data-subject rule`,
      });
    }
    seen.add(rule.rootField);
  });
});

/** Whom a root field is about. */
export type DataSubject =
  /** No rule names the root field: its fields concern no one in particular. */
  | { kind: 'none' }
  /** A citizen, by canonical NIC. */
  | { kind: 'citizen'; nic: Nic }
  /** A rule names the root field but the argument is missing or not a NIC: the query is the caller's mistake. */
  | { kind: 'invalid'; argument: string; message: string };

/**
 * The data subject of one root field of a query, from its (coerced) argument values and the rules.
 * Pure: the caller decides what an invalid subject becomes (the OE answers BAD_USER_INPUT).
 */
export function subjectOf(
  rootFieldName: string,
  args: Readonly<Record<string, unknown>>,
  rules: readonly DataSubjectRule[],
): DataSubject {
  const rule = rules.find((r) => r.rootField === rootFieldName);
  if (!rule) return { kind: 'none' };
  const nic = parseNic(args[rule.argument]);
  if (nic === null) {
    return {
      kind: 'invalid',
      argument: rule.argument,
      message: `${rule.argument} must be a NIC: ${NIC_FORMAT}`,
    };
  }
  return { kind: 'citizen', nic };
}
