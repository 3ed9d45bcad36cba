import { getNamedType, type GraphQLSchema } from 'graphql';
import { subjectOf, type DataSubjectRule } from '@ndx/contract';
import { ConfigError, NdxError } from '@ndx/service-kit';
import type { PlannedLeaf, QueryPlan } from './query-plan.ts';

/** Scalars a NIC argument may have in the unified schema. */
const NIC_SCALARS = new Set(['ID', 'String']);

/**
 * What is wrong with fl-config's `dataSubjects` against the unified schema: a rule naming a root field
 * Query does not have, an argument that field does not take, or an argument that cannot hold a NIC.
 */
function dataSubjectProblems(schema: GraphQLSchema, rules: readonly DataSubjectRule[]): string[] {
  const problems: string[] = [];
  const rootFields = schema.getQueryType()?.getFields() ?? {};
  rules.forEach((rule, index) => {
    const where = `dataSubjects[${index}] (${rule.rootField}(${rule.argument}:))`;
    const root = rootFields[rule.rootField];
    if (!root) {
      problems.push(`${where}: the unified schema has no root field Query.${rule.rootField}`);
      return;
    }
    const argument = root.args.find((a) => a.name === rule.argument);
    if (!argument) {
      problems.push(`${where}: Query.${rule.rootField} has no argument "${rule.argument}"`);
      return;
    }
    const scalar = getNamedType(argument.type).name;
    if (!NIC_SCALARS.has(scalar) || String(argument.type).startsWith('[')) {
      problems.push(
        `${where}: argument "${rule.argument}" is ${String(argument.type)}; a NIC needs ID or String`,
      );
    }
  });
  return problems;
}

/** Refuses to start (ConfigError) when a data-subject rule does not fit the unified schema. */
export function assertDataSubjectsMatchSchema(
  schema: GraphQLSchema,
  rules: readonly DataSubjectRule[],
): void {
  const problems = dataSubjectProblems(schema, rules);
  if (problems.length) {
    throw new ConfigError(
      `fl-config.json dataSubjects do not match the unified schema:\n  ${problems.join('\n  ')}`,
    );
  }
}

/** The data subject of a planned root field: the citizen's canonical NIC, or null when the root names no one. */
function subjectOfRoot(
  root: { fieldName: string; arguments: Record<string, unknown> },
  rules: readonly DataSubjectRule[],
): string | null {
  const subject = subjectOf(root.fieldName, root.arguments, rules);
  switch (subject.kind) {
    case 'none':
      return null;
    case 'citizen':
      return subject.nic;
    case 'invalid':
      throw new NdxError('BAD_USER_INPUT', subject.message, 400, { argument: subject.argument });
  }
}

/**
 * The plan with each data subject's NIC in canonical form, in its root field's arguments and in every
 * provider variable bound from them: providers take the canonical NIC only, and gating, fetching and the
 * audit record all name the same citizen. A subject argument that is not a NIC is BAD_USER_INPUT.
 */
export function withCanonicalSubjects(plan: QueryPlan, rules: readonly DataSubjectRule[]): QueryPlan {
  const changedArgs = new Map<string, Record<string, unknown>>();
  const rootFields = plan.rootFields.map((root) => {
    const nic = subjectOfRoot(root, rules);
    const rule = rules.find((r) => r.rootField === root.fieldName);
    if (nic === null || !rule || root.arguments[rule.argument] === nic) return root;
    const args = { ...root.arguments, [rule.argument]: nic };
    changedArgs.set(root.responseKey, args);
    return { ...root, arguments: args };
  });
  if (!changedArgs.size) return plan;
  const providers = plan.providers.map((provider) => {
    const variables = provider.variables.map((v) => {
      const args = changedArgs.get(v.rootKey);
      return args ? { ...v, value: args[v.unifiedArgument] } : v;
    });
    return {
      ...provider,
      variables,
      variableValues: Object.fromEntries(variables.map((v) => [v.name, v.value])),
    };
  });
  return { ...plan, rootFields, providers };
}

/** The planned leaves grouped by the data subject of their root field (a citizen's NIC, or null). */
export function leavesByDataSubject(
  plan: QueryPlan,
  rules: readonly DataSubjectRule[],
): Map<string | null, PlannedLeaf[]> {
  const subjectOfResponseKey = new Map<string, string | null>();
  for (const root of plan.rootFields) subjectOfResponseKey.set(root.responseKey, subjectOfRoot(root, rules));
  const leavesBySubject = new Map<string | null, PlannedLeaf[]>();
  for (const leaf of plan.leaves) {
    const subject = subjectOfResponseKey.get(leaf.unifiedPath[0] ?? '') ?? null;
    leavesBySubject.set(subject, [...(leavesBySubject.get(subject) ?? []), leaf]);
  }
  return leavesBySubject;
}
