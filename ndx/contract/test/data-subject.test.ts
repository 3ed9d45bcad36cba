import { describe, expect, it } from 'vitest';
import { dataSubjectRulesSchema, subjectOf, type DataSubjectRule } from '../src/data-subject.ts';

const rules: DataSubjectRule[] = [
  { rootField: 'personInfo', argument: 'nic', identifier: 'nic' },
  { rootField: 'birthRecord', argument: 'childNic', identifier: 'nic' },
];

describe('the data-subject rule', () => {
  it('a root field a rule names is about the citizen its argument names, in canonical form', () => {
    expect(subjectOf('personInfo', { nic: '852 321 234v' }, rules)).toEqual({
      kind: 'citizen',
      nic: '852321234V',
    });
    expect(subjectOf('birthRecord', { childNic: '199560201234', nic: '852321234V' }, rules)).toEqual({
      kind: 'citizen',
      nic: '199560201234',
    });
  });

  it('a root field no rule names concerns no one, whatever its arguments', () => {
    expect(subjectOf('vehicle', { regNo: 'CAB-1234' }, rules)).toEqual({ kind: 'none' });
    expect(subjectOf('vehicleClasses', { nic: '852321234V' }, rules)).toEqual({ kind: 'none' });
    expect(subjectOf('personInfo', { nic: '852321234V' }, [])).toEqual({ kind: 'none' });
  });

  it('a root field a rule names without a NIC in its argument is invalid, naming the argument', () => {
    for (const args of [{ nic: '12345' }, { nic: '' }, { nic: 852321234 }, { nic: null }, {}]) {
      expect(subjectOf('personInfo', args, rules), JSON.stringify(args)).toEqual({
        kind: 'invalid',
        argument: 'nic',
        message: expect.stringMatching(/^nic must be a NIC: 9 digits and V or X/),
      });
    }
    // The rule's argument is read, not any argument called nic.
    expect(subjectOf('birthRecord', { nic: '852321234V' }, rules)).toMatchObject({
      kind: 'invalid',
      argument: 'childNic',
    });
  });

  it('the rules parse from configuration, and a root field named twice or an unknown identifier is refused', () => {
    expect(dataSubjectRulesSchema.parse(rules)).toEqual(rules);
    const twice = dataSubjectRulesSchema.safeParse([rules[0], { ...rules[1], rootField: 'personInfo' }]);
    expect(twice.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [[1, 'rootField'], '"personInfo" is named by more than one data-subject rule'],
    ]);
    const kind = dataSubjectRulesSchema.safeParse([{ ...rules[0], identifier: 'passport' }]);
    expect(kind.error?.issues[0]?.path).toEqual([0, 'identifier']);
    const name = dataSubjectRulesSchema.safeParse([{ ...rules[0], rootField: 'person info' }]);
    expect(name.error?.issues[0]?.message).toBe('must be a GraphQL name');
    const extra = dataSubjectRulesSchema.safeParse([{ ...rules[0], argumnet: 'nic' }]);
    expect(extra.success).toBe(false);
  });
});
