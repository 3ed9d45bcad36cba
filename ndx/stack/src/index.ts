export * from './services.ts';
export * from './launcher.ts';
export { prebuildBundles } from './bundles.ts';
export { SecretStore } from './secrets.ts';
export { demoOfficers, DIE_OFFICER_ROLE } from './seed-accounts.ts';
export * from './call-graph.ts';
