export * from './services.ts';
export * from './launcher.ts';
export { SecretStore } from './secrets.ts';
