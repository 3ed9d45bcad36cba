export * from './demo-citizens.ts';
export * from './demo-records.ts';
export * from './nic.ts';
export * from './prng.ts';
export * from './records.ts';
export * from './catalogues.ts';
export * from './generator.ts';
