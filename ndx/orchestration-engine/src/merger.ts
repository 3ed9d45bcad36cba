/**
 * The merger: folds the providers' answers back into the unified shape of the plan, with an error on the path
 * of every field that was withheld or that a provider failed to supply.
 */
import type { ProviderGraphQLError } from './provider-client.ts';
import { LIST, type PlannedLeaf, type QueryPlan, type ShapeNode } from './query-plan.ts';

/**
 * A provider's answer as the merger takes it: its data and GraphQL errors, or, when it gave no usable answer,
 * the error that stands for every field it should have supplied.
 */
export type ProviderAnswer =
  | { ok: true; data: unknown; errors?: ReadonlyArray<ProviderGraphQLError> }
  /** Not answered usefully: code PROVIDER_UNAVAILABLE (down, timeout, breaker open) or PROVIDER_ERROR. */
  | { ok: false; code: string; message: string; extensions?: Record<string, unknown> };

/** Why a leaf was not released: FORBIDDEN, CONSENT_REQUIRED (extensions consentId, consentPortalUrl), … */
export interface Withholding {
  code: string;
  message: string;
  extensions?: Record<string, unknown>;
}

export interface UnifiedError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string } & Record<string, unknown>;
}

export interface MergeInput {
  /** By providerKey; a provider of the plan with no answer (and fields not withheld) is an internal error. */
  outcomes: Partial<Record<string, ProviderAnswer>>;
  /** The withholding of a leaf that was not fetched (PDP DENY, consent missing). */
  withheld?: (leaf: PlannedLeaf) => Withholding | undefined;
  /** Filled with what the answer holds for each released leaf (the audit record is made from it). */
  delivery?: LeafDelivery;
}

/** Why the answer holds null for a released leaf: its provider failed, or reported an error on its path. */
export type LeafFailure = 'PROVIDER_ERROR' | 'PROVIDER_UNAVAILABLE' | 'INTERNAL_ERROR';

/** What the answer holds for each released leaf (by leaf id), for the audit record. */
export interface LeafDelivery {
  /** Leaves that hold the provider's value (null included) in at least one place of the answer. */
  delivered: Set<number>;
  /**
   * Leaves nulled, in at least one place, because their provider failed or reported an error on their path
   * (an error in an HTTP 200 answer included: its field is null in the answer whatever value came with it).
   */
  failed: Map<number, LeafFailure>;
}

export interface MergeResult {
  data: Record<string, unknown>;
  errors: UnifiedError[];
}

/** An empty LeafDelivery, for `MergeInput.delivery`. */
export const newLeafDelivery = (): LeafDelivery => ({ delivered: new Set(), failed: new Map() });

/** Codes of provider errors passed on as they are; any other provider error becomes PROVIDER_ERROR. */
const PASSED_ON_CODES = new Set(['BAD_USER_INPUT']);

/**
 * Folds provider answers back into the unified shape: withheld and failed leaves are null with one error per
 * path, provider errors are passed on with their paths mapped to unified paths, lists merge element by element.
 */
export function mergeResults(plan: QueryPlan, input: MergeInput): MergeResult {
  const errors: UnifiedError[] = [];
  const coveredByProviderError = new Map<string, (string | number)[][]>();
  for (const provider of plan.providers) {
    const outcome = input.outcomes[provider.providerKey];
    if (!outcome?.ok || !outcome.errors?.length) continue;
    const paths: (string | number)[][] = [];
    for (const error of outcome.errors) {
      const providerPath = Array.isArray(error.path) ? [...error.path] : [];
      paths.push(providerPath);
      const code = typeof error.extensions?.['code'] === 'string' ? error.extensions['code'] : undefined;
      const unifiedPath = unifiedPathOf(plan, provider.providerKey, providerPath);
      errors.push({
        message: typeof error.message === 'string' ? error.message : 'provider error',
        ...(unifiedPath ? { path: unifiedPath } : {}),
        extensions: {
          code: code && PASSED_ON_CODES.has(code) ? code : 'PROVIDER_ERROR',
          providerKey: provider.providerKey,
        },
      });
    }
    coveredByProviderError.set(provider.providerKey, paths);
  }

  const context: MergeContext = {
    plan,
    input,
    errors: [],
    covered: coveredByProviderError,
    leaves: input.delivery ?? newLeafDelivery(),
  };
  const cursors = new Map<string, unknown>();
  for (const provider of plan.providers) {
    const outcome = input.outcomes[provider.providerKey];
    if (outcome?.ok) cursors.set(provider.providerKey, outcome.data);
  }
  const data: Record<string, unknown> = {};
  for (const node of plan.shape) {
    data[node.responseKey] = buildNode(context, node, cursors, new Map(), [node.responseKey]).value;
  }
  return { data, errors: [...context.errors, ...errors] };
}

interface MergeContext {
  plan: QueryPlan;
  input: MergeInput;
  errors: UnifiedError[];
  /** Per provider, the provider paths its GraphQL errors name (a pathless error names everything: []). */
  covered: Map<string, (string | number)[][]>;
  leaves: LeafDelivery;
}

interface Built {
  value: unknown;
  /** The value is null because the provider object it lives in is null (no error, nothing to show). */
  absent: boolean;
}

/** cursors: value at the current position per provider; concrete: provider path (with indices) per provider. */
function buildNode(
  context: MergeContext,
  node: ShapeNode,
  cursors: Map<string, unknown>,
  concrete: Map<string, (string | number)[]>,
  path: (string | number)[],
): Built {
  switch (node.kind) {
    case 'typename':
      return { value: node.typeName, absent: true };
    case 'leaf':
      return buildLeaf(context, context.plan.leaves[node.leafId]!, cursors, concrete, path);
    case 'object': {
      const value: Record<string, unknown> = {};
      let absent = true;
      for (const child of node.children) {
        const built = buildNode(context, child, cursors, concrete, [...path, child.responseKey]);
        value[child.responseKey] = built.value;
        if (!built.absent) absent = false;
      }
      const hasFields = node.children.some((c) => c.kind !== 'typename');
      return hasFields && absent ? { value: null, absent: true } : { value, absent: false };
    }
    case 'list':
      return buildList(context, node, cursors, concrete, path);
  }
}

function buildLeaf(
  context: MergeContext,
  leaf: PlannedLeaf,
  cursors: Map<string, unknown>,
  concrete: Map<string, (string | number)[]>,
  path: (string | number)[],
): Built {
  const withholding = context.input.withheld?.(leaf);
  if (withholding) {
    context.errors.push(errorAt(path, withholding.code, withholding.message, withholding.extensions));
    return { value: null, absent: false };
  }
  const failure = providerFailure(context, leaf.providerKey);
  if (failure) {
    context.errors.push(errorAt(path, failure.code, failure.message, failure.extensions));
    markFailed(context, [leaf.id], failure.code);
    return { value: null, absent: false };
  }
  // An error the provider reported on this leaf's path (or above it): null, whatever value came with it;
  // the provider's error already stands on the unified path.
  const read = readKeys(cursors.get(leaf.providerKey), leaf.keys);
  if (isCovered(context, leaf.providerKey, [...(concrete.get(leaf.providerKey) ?? []), ...leaf.keys])) {
    markFailed(context, [leaf.id], 'PROVIDER_ERROR');
    return { value: null, absent: !read.found };
  }
  if (read.found) context.leaves.delivered.add(leaf.id);
  return { value: read.found ? (read.value ?? null) : null, absent: !read.found };
}

/** Records leaves nulled in the answer by a provider failure (the first reason per leaf is kept). */
function markFailed(context: MergeContext, leafIds: readonly number[], code: string): void {
  const reason: LeafFailure =
    code === 'PROVIDER_UNAVAILABLE' ? code : code === 'PROVIDER_ERROR' ? code : 'INTERNAL_ERROR';
  for (const id of leafIds) {
    if (context.input.withheld?.(context.plan.leaves[id]!)) continue;
    if (!context.leaves.failed.has(id)) context.leaves.failed.set(id, reason);
  }
}

function buildList(
  context: MergeContext,
  node: Extract<ShapeNode, { kind: 'list' }>,
  cursors: Map<string, unknown>,
  concrete: Map<string, (string | number)[]>,
  path: (string | number)[],
): Built {
  const leaves = node.leafIds.map((id) => context.plan.leaves[id]!);
  const withholdings = leaves.map((leaf) => context.input.withheld?.(leaf));
  if (withholdings.every((w) => w !== undefined)) {
    // Nothing under the list was released, so the list itself was not fetched.
    const first = withholdings[0]!;
    context.errors.push(errorAt(path, first.code, first.message, first.extensions));
    return { value: null, absent: false };
  }
  const failure = providerFailure(context, node.providerKey);
  if (failure) {
    context.errors.push(errorAt(path, failure.code, failure.message, failure.extensions));
    markFailed(context, node.leafIds, failure.code);
    return { value: null, absent: false };
  }
  const providerPath = [...(concrete.get(node.providerKey) ?? []), ...node.keys];
  // An error the provider reported on the list's path (or above it): the list is null, its own error stands.
  const read = readKeys(cursors.get(node.providerKey), node.keys);
  if (isCovered(context, node.providerKey, providerPath)) {
    markFailed(context, node.leafIds, 'PROVIDER_ERROR');
    return { value: null, absent: !read.found };
  }
  if (!read.found) return { value: null, absent: true };
  if (read.value === null || read.value === undefined) return { value: null, absent: false };
  if (!Array.isArray(read.value)) {
    context.errors.push(
      errorAt(path, 'PROVIDER_ERROR', `provider ${node.providerKey} did not answer a list`),
    );
    markFailed(context, node.leafIds, 'PROVIDER_ERROR');
    return { value: null, absent: false };
  }
  const items = read.value.map((element, index) => {
    const elementCursors = new Map([[node.providerKey, element]]);
    const elementConcrete = new Map([[node.providerKey, [...providerPath, index]]]);
    const item: Record<string, unknown> = {};
    for (const child of node.children) {
      item[child.responseKey] = buildNode(context, child, elementCursors, elementConcrete, [
        ...path,
        index,
        child.responseKey,
      ]).value;
    }
    return item;
  });
  return { value: items, absent: false };
}

function providerFailure(context: MergeContext, providerKey: string): Withholding | undefined {
  const outcome = context.input.outcomes[providerKey];
  if (!outcome) return { code: 'INTERNAL_SERVER_ERROR', message: 'internal error' };
  if (outcome.ok) return undefined;
  return {
    code: outcome.code,
    message: outcome.message,
    extensions: { providerKey, ...outcome.extensions },
  };
}

function isCovered(context: MergeContext, providerKey: string, providerPath: (string | number)[]): boolean {
  return (context.covered.get(providerKey) ?? []).some(
    (errorPath) =>
      errorPath.length <= providerPath.length && errorPath.every((s, i) => s === providerPath[i]),
  );
}

function errorAt(
  path: (string | number)[],
  code: string,
  message: string,
  extensions?: Record<string, unknown>,
): UnifiedError {
  return { message, path, extensions: { ...extensions, code } };
}

function readKeys(start: unknown, keys: string[]): { found: boolean; value: unknown } {
  let current = start;
  for (let i = 0; i < keys.length; i++) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) {
      return { found: false, value: null };
    }
    current = (current as Record<string, unknown>)[keys[i]!];
    if (i < keys.length - 1 && (current === null || current === undefined))
      return { found: false, value: null };
  }
  return { found: true, value: current };
}

/**
 * The unified path a provider error path stands for: the common prefix of the unified paths of every leaf of
 * that provider under the error path (list indices carried over). Undefined when no leaf matches.
 */
export function unifiedPathOf(
  plan: QueryPlan,
  providerKey: string,
  providerPath: ReadonlyArray<string | number>,
): (string | number)[] | undefined {
  let common: (string | number)[] | undefined;
  for (const leaf of plan.leaves) {
    if (leaf.providerKey !== providerKey) continue;
    const indices: number[] = [];
    let matches = providerPath.length <= leaf.providerPath.length;
    for (let i = 0; matches && i < providerPath.length; i++) {
      const expected = leaf.providerPath[i];
      const actual = providerPath[i];
      if (expected === LIST) {
        if (typeof actual === 'number') indices.push(actual);
        else matches = false;
      } else if (expected !== actual) {
        matches = false;
      }
    }
    if (!matches) continue;
    const endsAtIndex =
      providerPath.length < leaf.providerPath.length && typeof providerPath.at(-1) === 'number';
    const unified: (string | number)[] = [];
    let next = 0;
    for (const segment of leaf.unifiedPath) {
      if (segment !== LIST) unified.push(segment);
      else if (next < indices.length) {
        unified.push(indices[next++]!);
        if (endsAtIndex && next === indices.length) break;
      } else break;
    }
    common = common ? commonPrefix(common, unified) : unified;
  }
  return common;
}

function commonPrefix(a: (string | number)[], b: (string | number)[]): (string | number)[] {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return a.slice(0, n);
}
