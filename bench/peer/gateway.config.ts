/**
 * Hive Gateway configuration of the benchmark's peer: the two sources (RGD and the DRP adapter) with static
 * credentials per source, and in-flight request deduplication on or off (BENCH_DEDUP=on|off). The supergraph
 * itself is composed by bench/support/peer.ts and passed on the command line.
 */
import { defineConfig } from '@graphql-hive/gateway';

const dedup = process.env.BENCH_DEDUP !== 'off';

export const gatewayConfig = defineConfig({
  transportEntries: {
    // https://the-guild.dev/graphql/hive/docs/gateway/other-features/performance/deduplicate-request
    '*.http': { options: { deduplicateInflightRequests: dedup } },
    rgd: { headers: [['authorization', `Bearer ${process.env.BENCH_RGD_TOKEN ?? ''}`]] },
    drp: { headers: [['x-api-key', process.env.BENCH_DRP_API_KEY ?? '']] },
  },
  logging: 'warn',
});
