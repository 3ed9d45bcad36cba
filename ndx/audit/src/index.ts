export * from './errors.ts';
export * from './record.ts';
export { migrateAudit, auditMigrationsDir } from './schema.ts';
export * from './writer.ts';
export * from './verify.ts';
export * from './query.ts';
