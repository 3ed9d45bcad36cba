import { randomBytes } from 'node:crypto';
import { hashSecret, verifySecret } from '@ndx/service-kit';

/** Citizens' passwords: the kit's scrypt hash. */
export const hashPassword = (password: string): Promise<string> => hashSecret(password);
export const verifyPassword = verifySecret;

/** A hash of a random password: verifying against it costs the same as a real one (no timing oracle). */
export const decoyHash = hashPassword(randomBytes(16).toString('hex'));
