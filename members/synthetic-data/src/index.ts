export * from './demo-citizens.ts';
