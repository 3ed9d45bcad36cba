import { authenticator } from 'otplib';
import { parseNic } from '@ndx/contract';
import type { Pool } from '@ndx/service-kit';
import { decoyHash, hashPassword, verifyPassword } from './passwords.ts';

export interface CitizenInput {
  nic: string;
  name: string;
  password: string;
  /** Base32 TOTP secret; when set, sign-in asks for a one-time code after the password. */
  totpSecret?: string | undefined;
  /** Roles of the account (e.g. `die-officer`), released in the `roles` claim; undefined keeps them on upsert. */
  roles?: readonly string[] | undefined;
}

export interface Citizen {
  nic: string;
  name: string;
  hasTotp: boolean;
  /** Empty for most citizens: a role is given on purpose (seeding or the CLI). */
  roles: string[];
}

/** A role name: lower-case letters, digits and hyphens, starting with a letter (e.g. `die-officer`). */
export const ROLE_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
const MAX_ROLES = 16;

export interface CitizenStore {
  /** Creates the account, or resets its name, password and TOTP secret (and its roles, when given) when it exists. */
  upsert(input: CitizenInput): Promise<void>;
  /** Creates the account only when the NIC has none (seeding); returns whether it was created. */
  insertIfMissing(input: CitizenInput): Promise<boolean>;
  find(nic: string): Promise<Citizen | undefined>;
  /**
   * The citizen when the password is right, otherwise undefined. Costs one scrypt either way, so
   * the answer time does not tell whether the NIC exists.
   */
  checkPassword(nic: string, password: string): Promise<Citizen | undefined>;
  /** True when code is the citizen's current TOTP code (30 s steps, one step of drift allowed). */
  checkTotp(nic: string, code: string): Promise<boolean>;
}

export function createCitizenStore(pool: Pool): CitizenStore {
  // Accounts are keyed by the canonical NIC, so `852321234v` and `852 321 234V` sign in as `852321234V`.
  const row = async (input: string) => {
    const nic = parseNic(input);
    if (nic === null) return undefined;
    const { rows } = await pool.query<{
      nic: string;
      name: string;
      password_hash: string;
      totp_secret: string | null;
      roles: string[];
    }>('SELECT nic, name, password_hash, totp_secret, roles FROM citizens WHERE nic = $1', [nic]);
    return rows[0];
  };
  const toCitizen = (found: { nic: string; name: string; totp_secret: string | null; roles: string[] }) => ({
    nic: found.nic,
    name: found.name,
    hasTotp: found.totp_secret !== null,
    roles: found.roles,
  });
  const validate = (input: CitizenInput) => {
    const nic = parseNic(input.nic);
    if (nic === null) throw new Error(`not a Farajaland NIC: ${input.nic}`);
    if (input.password.length < 8) throw new Error('a password needs at least 8 characters');
    if (!input.name.trim()) throw new Error('a citizen needs a name');
    const roles = input.roles === undefined ? null : [...new Set(input.roles)];
    const bad = roles?.find((role) => !ROLE_PATTERN.test(role));
    if (bad !== undefined) throw new Error(`not a role name (a-z, 0-9, -): ${bad}`);
    if (roles && roles.length > MAX_ROLES) throw new Error(`an account has at most ${MAX_ROLES} roles`);
    return { nic, roles };
  };
  return {
    async upsert(input) {
      const { nic, roles } = validate(input);
      await pool.query(
        `INSERT INTO citizens (nic, name, password_hash, totp_secret, roles)
         VALUES ($1, $2, $3, $4, COALESCE($5::text[], '{}'))
         ON CONFLICT (nic) DO UPDATE SET name = EXCLUDED.name, password_hash = EXCLUDED.password_hash,
           totp_secret = EXCLUDED.totp_secret, roles = COALESCE($5::text[], citizens.roles), updated_at = now()`,
        [nic, input.name.trim(), await hashPassword(input.password), input.totpSecret ?? null, roles],
      );
    },
    async insertIfMissing(input) {
      const { nic, roles } = validate(input);
      if (await row(nic)) return false;
      const result = await pool.query(
        `INSERT INTO citizens (nic, name, password_hash, totp_secret, roles) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (nic) DO NOTHING`,
        [nic, input.name.trim(), await hashPassword(input.password), input.totpSecret ?? null, roles ?? []],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async find(nic) {
      const found = await row(nic);
      return found ? toCitizen(found) : undefined;
    },
    async checkPassword(nic, password) {
      const found = await row(nic);
      const ok = await verifyPassword(password, found?.password_hash ?? (await decoyHash));
      if (!found || !ok) return undefined;
      return toCitizen(found);
    },
    async checkTotp(nic, code) {
      const found = await row(nic);
      if (!found?.totp_secret || !/^\d{6}$/.test(code)) return false;
      const totp = authenticator.clone({ window: 1 });
      return totp.check(code, found.totp_secret);
    },
  };
}
