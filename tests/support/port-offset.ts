/**
 * A random port offset for a whole stack, in hundreds from `min`. Two stack files run side by side
 * (vitest.config.ts): worker 1 takes even hundreds and worker 2 odd ones, so their services' ports never meet
 * (the service ports differ by 1,000 at most in whole hundreds: the OE's 4000 and the passport app's 3000).
 */
export function stackPortOffset(min: number, hundreds = 40): number {
  const worker = Number(process.env.VITEST_POOL_ID ?? 1);
  return min + 100 * (2 * Math.floor(Math.random() * hundreds) + (worker % 2));
}
