import type { RunningStack } from './launcher.ts';

/**
 * Copy-paste examples printed by init.sh once everything is ready. Each capability adds its own;
 * an example may only name things that work.
 */
export function examples(stack: RunningStack): string[] {
  const { context } = stack;
  return [
    `# every service answers /health, /ready and /metrics, e.g.\ncurl -s ${context.url('orchestration-engine')}/ready\ncurl -s ${context.url('orchestration-engine')}/metrics | head`,
  ];
}
