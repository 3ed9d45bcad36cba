export * from './adapter.ts';
export * from './arguments.ts';
export * from './auth.ts';
export * from './errors.ts';
export * from './rest.ts';
export * from './soap.ts';
export * from './upstream.ts';
