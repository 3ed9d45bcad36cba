/**
 * What the policies' decisions depend on besides consumer, purpose, field and action, read from Cedar's JSON
 * form of the policies (never from their text): the time context (`now`, `minuteOfDay`, `date`,
 * `dayOfWeek`), and the constants those are compared with. A decision table is valid until the next instant
 * at which one of these comparisons can flip (see decision-table.ts).
 */

const TIME_ATTRIBUTES = ['now', 'minuteOfDay', 'date', 'dayOfWeek'] as const;
type TimeAttribute = (typeof TIME_ATTRIBUTES)[number];
const COMPARISONS = new Set(['<', '<=', '>', '>=', '==', '!=']);
const ARITHMETIC = new Set(['+', '-', '*', 'neg']);

export interface TimeDependence {
  /** Some policy reads `now`. */
  now: boolean;
  /** `now` is used other than compared directly with a datetime literal or an entity's datetime: any second may differ. */
  nowAnySecond: boolean;
  /** Some policy reads `date` or `dayOfWeek`: a local date change may differ. */
  date: boolean;
  /** Some policy reads `minuteOfDay`. */
  minuteOfDay: boolean;
  /** `minuteOfDay` is used other than compared directly with a Long, or next to arithmetic: any minute may differ. */
  minuteAnyMinute: boolean;
  /** The Long literals of the policies (with the entities' Longs, the values minuteOfDay can be compared with). */
  longs: number[];
  /** The datetime literals of the policies, ms since the epoch. */
  datetimes: number[];
}

type Node = Record<string, unknown>;
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;

/** The context attribute an expression reads directly (`context.x`, `context["x"]`), if it is one. */
function contextAttribute(node: unknown): string | undefined {
  if (!isNode(node)) return undefined;
  const access = node['.'];
  if (!isNode(access) || typeof access['attr'] !== 'string') return undefined;
  const left = access['left'];
  return isNode(left) && left['Var'] === 'context' && Object.keys(left).length === 1
    ? access['attr']
    : undefined;
}

/** Every sub-expression of a Cedar JSON expression (arrays and objects alike), the node itself first. */
function* walk(node: unknown): Generator<unknown> {
  yield node;
  if (Array.isArray(node)) for (const item of node) yield* walk(item);
  else if (isNode(node)) for (const value of Object.values(node)) yield* walk(value);
}

/** The time dependence of a set of policies, each given by its JSON `conditions`. */
export function timeDependence(policyConditions: unknown[]): TimeDependence {
  const result: TimeDependence = {
    now: false,
    nowAnySecond: false,
    date: false,
    minuteOfDay: false,
    minuteAnyMinute: false,
    longs: [],
    datetimes: [],
  };
  for (const conditions of policyConditions) {
    const reads = new Set<TimeAttribute>();
    /** Reads of a time attribute that are a direct operand of a comparison. */
    const compared = new Map<TimeAttribute, number>();
    const all = new Map<TimeAttribute, number>();
    let arithmetic = false;
    let datetimeMethods = false;
    for (const node of walk(conditions)) {
      if (!isNode(node)) continue;
      if (node['Var'] === 'context' && !isContextRead(conditions, node)) {
        // The context as a whole value: anything in it may be read.
        for (const a of TIME_ATTRIBUTES) reads.add(a);
        arithmetic = true;
        datetimeMethods = true;
      }
      const attr = contextAttribute(node);
      if (attr && (TIME_ATTRIBUTES as readonly string[]).includes(attr)) {
        const a = attr as TimeAttribute;
        reads.add(a);
        all.set(a, (all.get(a) ?? 0) + 1);
      }
      for (const [op, operand] of Object.entries(node)) {
        if (ARITHMETIC.has(op)) arithmetic = true;
        if (Array.isArray(operand) && op !== 'datetime' && op !== 'Set') datetimeMethods = true;
        if (op === 'Value' && typeof operand === 'number') result.longs.push(operand);
        if (op === 'datetime' && Array.isArray(operand)) {
          const literal = (operand[0] as Node | undefined)?.['Value'];
          const ms = typeof literal === 'string' ? Date.parse(literal) : NaN;
          if (Number.isFinite(ms)) result.datetimes.push(ms);
          else datetimeMethods = true;
        }
        if (COMPARISONS.has(op) && isNode(operand)) {
          for (const side of [operand['left'], operand['right']]) {
            const a = contextAttribute(side) as TimeAttribute | undefined;
            if (a) compared.set(a, (compared.get(a) ?? 0) + 1);
          }
        }
      }
    }
    const onlyCompared = (a: TimeAttribute) => (compared.get(a) ?? 0) === (all.get(a) ?? 0);
    if (reads.has('now')) {
      result.now = true;
      if (!onlyCompared('now') || datetimeMethods || arithmetic) result.nowAnySecond = true;
    }
    if (reads.has('date') || reads.has('dayOfWeek')) result.date = true;
    if (reads.has('minuteOfDay')) {
      result.minuteOfDay = true;
      if (!onlyCompared('minuteOfDay') || arithmetic) result.minuteAnyMinute = true;
    }
  }
  return result;
}

/** Whether this `{Var: "context"}` node is the left of an attribute read or `has` test somewhere in the tree. */
function isContextRead(tree: unknown, variable: Node): boolean {
  for (const node of walk(tree)) {
    if (!isNode(node)) continue;
    for (const op of ['.', 'has']) {
      const access = node[op];
      if (isNode(access) && access['left'] === variable) return true;
    }
  }
  return false;
}

/** The Longs and datetimes (ms) in entity data, which policies may compare the time context with. */
export function entityConstants(value: unknown, into: { longs: number[]; datetimes: number[] }): void {
  if (typeof value === 'number') into.longs.push(value);
  else if (Array.isArray(value)) for (const item of value) entityConstants(item, into);
  else if (isNode(value)) {
    const extension = value['__extn'];
    if (isNode(extension) && extension['fn'] === 'datetime' && typeof extension['arg'] === 'string') {
      const ms = Date.parse(extension['arg']);
      if (Number.isFinite(ms)) into.datetimes.push(ms);
      return;
    }
    for (const item of Object.values(value)) entityConstants(item, into);
  }
}
