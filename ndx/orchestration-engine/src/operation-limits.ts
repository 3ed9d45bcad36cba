import {
  GraphQLError,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type InlineFragmentNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import { NdxError } from '@ndx/service-kit';

/**
 * The OE's own limits on an operation, beside GraphQL Armor's (depth, aliases, cost, directives per operation) and
 * the token count (token-limit.ts): each a validation rule, so a document is checked once and kept checked in the
 * document cache, and each refusal comes before planning, the PDP, the CE and any provider.
 */
export interface OperationLimits {
  /** Field selections in one operation, fragments expanded and duplicates counted. */
  maxFields: number;
  /** Directives on one field, fragment spread or inline fragment. */
  maxDirectivesPerField: number;
  /** Characters of one string argument. */
  maxArgumentLength: number;
}

/** Control characters (C0, DEL, C1), invisible formatting characters (bidi overrides, zero-width) and lone surrogates. */
const FORBIDDEN_CHARACTER = /[\p{Cc}\p{Cf}\p{Cs}]/u;

/** Why a string may not be an argument (too long, or a character no identifier holds), or null when it may. */
export function argumentTextProblem(value: string, maxLength: number): string | null {
  if (value.length > maxLength) return `is ${value.length} characters long; at most ${maxLength} are allowed`;
  const found = FORBIDDEN_CHARACTER.exec(value);
  if (found) {
    const codePoint = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return `holds a control or invisible formatting character (U+${codePoint})`;
  }
  return null;
}

/** An argument or variable that is not acceptable input: BAD_USER_INPUT, before anything is asked of anyone. */
export class InvalidArgumentTextError extends NdxError {
  constructor(where: string, problem: string) {
    super('BAD_USER_INPUT', `${where} ${problem}`, 400);
  }
}

/** The operations' field selections, fragments expanded (each fragment counted once, memoised; a cycle counts 0). */
function fieldCount(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  memo: Map<string, number>,
): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      count += 1 + (selection.selectionSet ? fieldCount(selection.selectionSet, fragments, memo) : 0);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += fieldCount(selection.selectionSet, fragments, memo);
    } else {
      const name = selection.name.value;
      if (!memo.has(name)) {
        memo.set(name, 0); // while counting it: a spread of itself (a cycle, reported by graphql-js) adds nothing
        const fragment = fragments.get(name);
        memo.set(name, fragment ? fieldCount(fragment.selectionSet, fragments, memo) : 0);
      }
      count += memo.get(name)!;
    }
  }
  return count;
}

/** Field duplication and fragment fan-out: at most `max` field selections per operation, fragments expanded. */
export function maxFieldsRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const fragments = new Map(
        context
          .getDocument()
          .definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
          .map((d) => [d.name.value, d]),
      );
      const count = fieldCount(operation.selectionSet, fragments, new Map());
      if (count > max) {
        context.reportError(
          new GraphQLError(
            `the operation selects ${count} fields (fragments expanded); at most ${max} are allowed`,
            { nodes: [operation] },
          ),
        );
      }
    },
  });
}

/** Directive overloading: at most `max` directives on one field, fragment spread or inline fragment. */
export function maxDirectivesPerFieldRule(max: number): ValidationRule {
  return (context) => {
    const check = (node: FieldNode | FragmentSpreadNode | InlineFragmentNode) => {
      const count = node.directives?.length ?? 0;
      if (count > max) {
        context.reportError(
          new GraphQLError(`a selection carries ${count} directives; at most ${max} are allowed`, {
            nodes: [node],
          }),
        );
      }
    };
    return { Field: check, FragmentSpread: check, InlineFragment: check };
  };
}

/**
 * String literals in the document (arguments, directive arguments, variable defaults): too long, or holding a
 * control or invisible character, is BAD_USER_INPUT (the NdxError travels as the error's originalError).
 */
export function argumentTextRule(maxLength: number): ValidationRule {
  return (context) => ({
    StringValue(node) {
      const problem = argumentTextProblem(node.value, maxLength);
      if (problem) {
        const error = new InvalidArgumentTextError('a string argument', problem);
        context.reportError(new GraphQLError(error.message, { nodes: [node], originalError: error }));
      }
    },
  });
}

/** The OE's rules, in the order they report. */
export function operationLimitRules(limits: OperationLimits): ValidationRule[] {
  return [
    maxFieldsRule(limits.maxFields),
    maxDirectivesPerFieldRule(limits.maxDirectivesPerField),
    argumentTextRule(limits.maxArgumentLength),
  ];
}

/**
 * The request's variables, every string in them at any depth (walked without recursion; the body limit bounds
 * the walk): the first that is too long or holds a control or invisible character, as an error; else null.
 * Variables that are not an object are left to Apollo (a 400 for a malformed request).
 */
export function variablesProblem(variables: unknown, maxLength: number): InvalidArgumentTextError | null {
  if (variables === null || typeof variables !== 'object' || Array.isArray(variables)) return null;
  const pending: [string, unknown][] = Object.entries(variables).map(([name, value]) => [`$${name}`, value]);
  while (pending.length) {
    const [path, value] = pending.pop()!;
    if (typeof value === 'string') {
      const problem = argumentTextProblem(value, maxLength);
      if (problem) return new InvalidArgumentTextError(`variable ${path}`, problem);
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push([`${path}[${index}]`, item]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) pending.push([`${path}.${key}`, item]);
    }
  }
  return null;
}
