/**
 * Summarises a V8 CPU profile (`--cpu-prof` output): the functions with the most self time, the functions with
 * the most inclusive time (self plus everything they called), and self time by package or source file.
 *
 *   node bench/profile-summary.ts <file.cpuprofile | folder> [--top 25] [--skip-seconds 0]
 *
 * `--skip-seconds` leaves out the profile's first seconds (start-up) so that the load dominates.
 */
import { parseArgs } from 'node:util';
import { summariseProfile, newestProfile } from './support/profile.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    'skip-seconds': { type: 'string', default: '0' },
  },
});
const target = positionals[0];
if (!target) {
  console.error(
    'usage: node bench/profile-summary.ts <file.cpuprofile | folder> [--top N] [--skip-seconds S]',
  );
  process.exit(2);
}
const file = target.endsWith('.cpuprofile') ? target : await newestProfile(target);
const top = Number(values.top);
const summary = await summariseProfile(file, { top, skipSeconds: Number(values['skip-seconds']) });
const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)} %`;
const ms = (value: number) => `${value.toFixed(0).padStart(7)} ms`;

console.log(
  `${file}\n${summary.sampledMs.toFixed(0)} ms sampled, ${summary.busyMs.toFixed(0)} ms not idle\n`,
);
console.log('Self time (function, where):');
for (const f of summary.self) console.log(`${ms(f.ms)} ${pct(f.share)}  ${f.function}  ${f.where}`);
console.log('\nInclusive time (function, where):');
for (const f of summary.inclusive) console.log(`${ms(f.ms)} ${pct(f.share)}  ${f.function}  ${f.where}`);
console.log('\nSelf time by package or file:');
for (const f of summary.byModule) console.log(`${ms(f.ms)} ${pct(f.share)}  ${f.module}`);
