import type { FastifyInstance } from 'fastify';
import { isCanonicalNic } from '@ndx/contract';
import {
  apiKeyMatches,
  BadRequestError,
  NotFoundError,
  UnauthenticatedError,
  type Pool,
} from '@ndx/service-kit';

/** The legacy system's own record shape (snake_case), as served by GET /person/{nic}. */
export interface LegacyPerson {
  nic: string;
  full_name: string;
  other_names: string | null;
  permanent_address: string;
  profession: string | null;
  sex: 'MALE' | 'FEMALE';
  date_of_birth: string;
}

/** GET /person/{nic}: X-API-Key required (401), malformed NIC 400, unknown NIC 404. */
export function registerPersonRoutes(app: FastifyInstance, pool: Pool, apiKeys: readonly string[]): void {
  app.get<{ Params: { nic: string } }>('/person/:nic', async (request) => {
    const header = request.headers['x-api-key'];
    const presented = Array.isArray(header) ? header[0] : header;
    if (!presented) throw new UnauthenticatedError('the X-API-Key header is required');
    if (!apiKeyMatches(presented, apiKeys))
      throw new UnauthenticatedError('the X-API-Key header is not valid');

    const { nic } = request.params;
    if (!isCanonicalNic(nic)) {
      throw new BadRequestError('nic must be 9 digits followed by V or X, or 12 digits', { nic });
    }
    // A named (prepared) statement: parsed and planned once per connection, not on every lookup.
    const { rows } = await pool.query<LegacyPerson>({
      name: 'drp-person-by-nic',
      text: `SELECT nic, full_name, other_names, permanent_address, profession, sex,
              to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth
         FROM persons WHERE nic = $1`,
      values: [nic],
    });
    const person = rows[0];
    if (!person) throw new NotFoundError(`no person with NIC ${nic}`);
    return person;
  });
}
