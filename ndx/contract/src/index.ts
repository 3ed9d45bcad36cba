// The exchange's shared vocabulary. Every service may import it; it imports no service.
export * from './field-ref.ts';
export * from './nic.ts';
export * from './data-subject.ts';
export * from './pdp-api.ts';
export * from './decision-table.ts';
export * from './consumer-registry.ts';
export * from './ce-api.ts';
export * from './consent-status.ts';
export * from './end-user.ts';
export * from './identity-admin.ts';
export * from './public-paths.ts';
