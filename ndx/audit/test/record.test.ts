import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  computeRecordHash,
  GENESIS_HASH,
  toAuditContent,
  type AuditRecord,
} from '../src/index.ts';
import { AMARA, passportRecord } from './fixtures.ts';

describe('canonical serialisation and hashing', () => {
  it('orders keys at every level, keeps array order and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined }, é: 'x' })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1,"é":"x"}',
    );
  });

  it('the same record hashes the same whatever order its keys were written in', () => {
    const content = toAuditContent(passportRecord(AMARA), new Date('2026-01-01T00:00:00Z'));
    const record = { ...content, id: 1, formatVersion: 1, prevHash: GENESIS_HASH };
    const reversed = Object.fromEntries(Object.entries(record).reverse()) as Omit<AuditRecord, 'hash'>;
    expect(computeRecordHash(reversed)).toBe(computeRecordHash(record));
    expect(computeRecordHash(record)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('any change of content, position or predecessor changes the hash', () => {
    const content = toAuditContent(passportRecord(AMARA), new Date('2026-01-01T00:00:00Z'));
    const record = { ...content, id: 1, formatVersion: 1, prevHash: GENESIS_HASH };
    const hash = computeRecordHash(record);
    expect(computeRecordHash({ ...record, id: 2 })).not.toBe(hash);
    expect(computeRecordHash({ ...record, prevHash: 'f'.repeat(64) })).not.toBe(hash);
    expect(computeRecordHash({ ...record, purpose: 'other' })).not.toBe(hash);
    expect(computeRecordHash({ ...record, timings: { ...record.timings, pdp: 4.3 } })).not.toBe(hash);
  });

  it('refuses non-finite numbers rather than hashing them as null', () => {
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(/non-finite/);
  });
});
