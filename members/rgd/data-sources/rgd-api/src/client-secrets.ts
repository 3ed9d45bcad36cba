import { hashSecret, verifySecret } from '@ndx/service-kit';

/** A salted scrypt hash of a client secret (the kit's `scrypt$N$r$p$salt$hash`). */
export const hashClientSecret = (secret: string): Promise<string> =>
  hashSecret(secret, { N: 16_384, r: 8, p: 1 });

/** True when secret matches the stored hash (constant-time comparison). */
export const verifyClientSecret = verifySecret;
