/**
 * The OE's own limits on an operation (fields, directives per field, argument text), as graphql-js validation
 * rules against the unified schema.
 */
import { parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { argumentTextProblem, operationLimitRules, variablesProblem } from '../src/operation-limits.ts';
import { loadUnifiedSchema } from '../src/schema.ts';

const { schema } = loadUnifiedSchema();
const rules = operationLimitRules({ maxFields: 10, maxDirectivesPerField: 2, maxArgumentLength: 20 });
const messages = (query: string) =>
  validate(schema, parse(query), [...specifiedRules, ...rules]).map((e) => e.message);

describe('the OE’s operation limits', () => {
  it('count every field selection, duplicates and fragments expanded, and refuse more than maxFields', () => {
    expect(
      messages('{ personInfo(nic: "199560201234") { name name name name name name name name name } }'),
    ).toEqual([]);
    expect(
      messages('{ personInfo(nic: "199560201234") { name name name name name name name name name name } }'),
    ).toEqual(['the operation selects 11 fields (fragments expanded); at most 10 are allowed']);
    // 1 + 3 spreads × (1 + 2 spreads × 2 fields) = 16
    expect(
      messages(`{ personInfo(nic: "199560201234") { ...A ...A ...A } }
        fragment A on PersonInfo { sex ...B ...B }
        fragment B on PersonInfo { name fullName }`),
    ).toEqual(['the operation selects 16 fields (fragments expanded); at most 10 are allowed']);
  });

  it('survive a fragment cycle, which graphql-js refuses', () => {
    expect(
      messages(`{ personInfo(nic: "199560201234") { ...A } }
        fragment A on PersonInfo { name ...B }
        fragment B on PersonInfo { sex ...A }`),
    ).toEqual(['Cannot spread fragment "A" within itself via "B".']);
  });

  it('refuse more than maxDirectivesPerField directives on one selection', () => {
    expect(
      messages(
        'query Q($a: Boolean!) { personInfo(nic: "199560201234") { name @include(if: $a) @skip(if: $a) } }',
      ),
    ).toEqual([]);
    expect(
      messages('{ personInfo(nic: "199560201234") { name @aa @bb @cc } }').filter(
        (m) => !m.startsWith('Unknown'),
      ),
    ).toEqual(['a selection carries 3 directives; at most 2 are allowed']);
  });

  it('refuse string arguments that are too long or hold control or invisible characters', () => {
    expect(messages('{ vehicle(regNo: "ABC-1234") { make } }')).toEqual([]);
    expect(messages('{ vehicle(regNo: "ABC-1234\\u0000") { make } }')).toEqual([
      'a string argument holds a control or invisible formatting character (U+0000)',
    ]);
    expect(messages('{ vehicle(regNo: "ABC\\u202E4321") { make } }')).toEqual([
      'a string argument holds a control or invisible formatting character (U+202E)',
    ]);
    expect(messages(`{ vehicle(regNo: "${'A'.repeat(21)}") { make } }`)).toEqual([
      'a string argument is 21 characters long; at most 20 are allowed',
    ]);
  });
});

describe('argument text', () => {
  it('allows letters of any script and emoji, and refuses C0, DEL, C1, format characters and lone surrogates', () => {
    expect(argumentTextProblem('Run🏃Swim🏊 Ñandú 名前', 100)).toBeNull();
    for (const [text, codePoint] of [
      ['a\tb', '0009'],
      ['a\u007fb', '007F'],
      ['a\u0085b', '0085'],
      ['a\u200bb', '200B'],
      ['a\ufeffb', 'FEFF'],
      ['a\ud800b', 'D800'],
    ] as const) {
      expect(argumentTextProblem(text, 100)).toBe(
        `holds a control or invisible formatting character (U+${codePoint})`,
      );
    }
  });

  it('is checked in variables at any depth, naming the variable', () => {
    expect(variablesProblem({ nic: '199560201234', list: ['a', { b: 'c' }] }, 20)).toBeNull();
    expect(variablesProblem({ nic: '199560201234', list: ['a', { b: 'c\u0000' }] }, 20)?.message).toBe(
      'variable $list[1].b holds a control or invisible formatting character (U+0000)',
    );
    expect(variablesProblem({ nic: 'x'.repeat(21) }, 20)?.code).toBe('BAD_USER_INPUT');
    expect(variablesProblem('not an object', 20)).toBeNull();
    expect(variablesProblem([{ nic: '\u0000' }], 20)).toBeNull();
  });
});
