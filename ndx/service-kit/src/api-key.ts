import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when `presented` equals one of `accepted`, compared in constant time: both sides are
 * hashed first, so neither the content nor the length of a key leaks through timing.
 */
export function apiKeyMatches(presented: string | undefined, accepted: readonly string[]): boolean {
  if (typeof presented !== 'string' || presented.length === 0) return false;
  const digest = createHash('sha256').update(presented).digest();
  let match = false;
  for (const key of accepted) {
    // Every key is compared (no early return) so the position of the match does not leak either.
    if (key.length > 0 && timingSafeEqual(digest, createHash('sha256').update(key).digest())) match = true;
  }
  return match;
}
