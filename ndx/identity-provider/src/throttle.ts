import type { Pool } from '@ndx/service-kit';

export interface ThrottleOptions {
  /** Failed attempts for one NIC within the window that lock it (default 5). */
  maxFailuresPerNic: number;
  /** Failed attempts from one client address within the window that block it (default 20). */
  maxFailuresPerAddress: number;
  windowSeconds: number;
  /** The time failures are recorded at and the window ends at (default: the real time; tests inject one). */
  now?: () => Date;
}

export const defaultThrottle: ThrottleOptions = {
  maxFailuresPerNic: 5,
  maxFailuresPerAddress: 20,
  windowSeconds: 15 * 60,
};

/**
 * Sign-in lock-out: failures are counted per submitted NIC (whether or not an account exists, so
 * the lock-out itself reveals nothing) and per client address, over a sliding window.
 */
export interface LoginThrottle {
  isBlocked(nic: string, address: string): Promise<boolean>;
  recordFailure(nic: string, address: string): Promise<void>;
  /** A successful sign-in clears the NIC's failures. */
  clear(nic: string): Promise<void>;
}

export function createLoginThrottle(pool: Pool, options: ThrottleOptions = defaultThrottle): LoginThrottle {
  const now = options.now ?? (() => new Date());
  return {
    async isBlocked(nic, address) {
      const { rows } = await pool.query<{ by_nic: string; by_address: string }>(
        `SELECT count(*) FILTER (WHERE nic = $1) AS by_nic, count(*) FILTER (WHERE address = $2) AS by_address
         FROM login_failures WHERE (nic = $1 OR address = $2) AND at > $4::timestamptz - make_interval(secs => $3)`,
        [nic, address, options.windowSeconds, now()],
      );
      const counts = rows[0]!;
      return (
        Number(counts.by_nic) >= options.maxFailuresPerNic ||
        Number(counts.by_address) >= options.maxFailuresPerAddress
      );
    },
    async recordFailure(nic, address) {
      const at = now();
      await pool.query('INSERT INTO login_failures (nic, address, at) VALUES ($1, $2, $3)', [
        nic,
        address,
        at,
      ]);
      await pool.query('DELETE FROM login_failures WHERE at < $2::timestamptz - make_interval(secs => $1)', [
        options.windowSeconds * 2,
        at,
      ]);
    },
    async clear(nic) {
      await pool.query('DELETE FROM login_failures WHERE nic = $1', [nic]);
    },
  };
}
