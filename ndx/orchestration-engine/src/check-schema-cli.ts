/**
 * Checks ndx/schema.graphql against fl-config.json and the providers' schemas, for CI of schema changes.
 *
 *   node ndx/orchestration-engine/src/check-schema-cli.ts [--live] [--schema PATH] [--config PATH]
 *
 * Without --live it uses each provider's pinned schemaFile (provider-schemas/*.graphql); with --live it fetches
 * `${url}/graphql/schema.graphql` from the running providers. Exit 0 when all is well, 1 with the problems.
 */
import { parseArgs } from 'node:util';
import { loadFlConfig } from './fl-config.ts';
import { loadUnifiedSchema } from './schema.ts';
import { checkSchema, loadProviderSchemas } from './schema-check.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      live: { type: 'boolean', default: false },
      schema: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: node ndx/orchestration-engine/src/check-schema-cli.ts [--live] [--schema PATH] [--config PATH]',
    );
    return 0;
  }
  const { schema } = loadUnifiedSchema(values.schema);
  const config = loadFlConfig(values.config);
  const sdls = await loadProviderSchemas(config, { prefer: values.live ? 'live' : 'pinned' });
  const problems = checkSchema(schema, config, sdls);
  if (problems.length) {
    console.error(`schema check failed (${problems.length} problem${problems.length === 1 ? '' : 's'}):`);
    for (const problem of problems) console.error(`  - ${problem}`);
    return 1;
  }
  const origins = [...sdls].map(([key, source]) => `${key} ${source.origin}`).join(', ');
  console.log(`schema check passed: every @sourceInfo and argMapping fits the provider schemas (${origins})`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`schema check failed: ${(err as Error).message ?? String(err)}`);
    process.exit(1);
  },
);
