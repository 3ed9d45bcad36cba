import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './support/test-stack.ts';

const probe = `import { describe, expect, it } from 'vitest';
describe.skip('a skipped suite', () => {
  it.only('a focused test', () => {
    const built = { a: 1 };
    expect(built).toBeDefined();
  });
  it('a test that asserts nothing', () => {
    void 1;
  });
  it.todo('a stub');
});
`;

describe('the lint rules over test files', () => {
  it('refuse skipped, focused and stub tests, tests without an assertion, and toBeDefined()', async () => {
    const eslint = new ESLint({ cwd: repoRoot });
    const [result] = await eslint.lintText(probe, { filePath: `${repoRoot}/tests/probe.test.ts` });
    const found = result!.messages.map((m) => `${m.line} ${m.ruleId}`).sort();
    expect(found).toEqual(
      [
        '2 vitest/no-disabled-tests',
        '3 vitest/no-focused-tests',
        '5 no-restricted-syntax',
        '7 vitest/expect-expect',
        '10 no-restricted-syntax',
      ].sort(),
    );
  });

  it('apply to test files in the services, the members and the end-to-end suite', async () => {
    const eslint = new ESLint({ cwd: repoRoot });
    for (const file of [
      'tests/orchestration.test.ts',
      'ndx/orchestration-engine/test/planner-corpus.test.ts',
      'members/rgd/data-sources/rgd-api/test/rgd-api.test.ts',
    ]) {
      const config = (await eslint.calculateConfigForFile(`${repoRoot}/${file}`)) as {
        rules: Record<string, unknown>;
      };
      expect(Object.keys(config.rules)).toEqual(
        expect.arrayContaining([
          'vitest/no-focused-tests',
          'vitest/no-disabled-tests',
          'vitest/expect-expect',
        ]),
      );
    }
  });
});
