import type { Logger, Pool } from '@ndx/service-kit';
import type { ConsumerInfo, PurposeInfo } from './config.ts';

/** A consumer as the CE knows it; a disabled one keeps its name but may ask for no new consent. */
export interface RegisteredConsumerInfo extends ConsumerInfo {
  disabledAt?: string;
}

/**
 * Consumers and purposes registered at run time through the admin API (migrations/003), held in memory
 * for the request path and reloaded from the database every `refreshMs` (and at once after a change made
 * through this instance), so every CE instance sees an operator's change within that time without a restart.
 */
export interface OperatorRegistrations {
  consumer(consumerId: string): RegisteredConsumerInfo | undefined;
  purpose(purpose: string): PurposeInfo | undefined;
  consumers(): Map<string, RegisteredConsumerInfo>;
  setConsumer(consumerId: string, info: ConsumerInfo): Promise<void>;
  setPurpose(purpose: string, info: PurposeInfo): Promise<void>;
  /** Marks the consumer disabled (copying its configured entry when it has no registration yet); false when unknown. */
  disableConsumer(consumerId: string, fallback: ConsumerInfo | undefined): Promise<boolean>;
  reload(): Promise<void>;
  stop(): void;
}

export async function loadOperatorRegistrations(
  pool: Pool,
  logger: Logger,
  options: { refreshMs: number },
): Promise<OperatorRegistrations> {
  let consumers = new Map<string, RegisteredConsumerInfo>();
  let purposes = new Map<string, PurposeInfo>();
  const reload = async () => {
    const [c, p] = await Promise.all([
      pool.query<{
        consumer_id: string;
        display_name: string;
        agency: string;
        redirect_uris: string[];
        disabled_at: Date | null;
      }>('SELECT consumer_id, display_name, agency, redirect_uris, disabled_at FROM operator_consumers'),
      pool.query<{ purpose: string; text: string; legal_basis: string; duration_days: string }>(
        'SELECT purpose, text, legal_basis, duration_days FROM operator_purposes',
      ),
    ]);
    consumers = new Map(
      c.rows.map((r) => [
        r.consumer_id,
        {
          displayName: r.display_name,
          agency: r.agency,
          redirectUris: r.redirect_uris,
          ...(r.disabled_at ? { disabledAt: r.disabled_at.toISOString() } : {}),
        },
      ]),
    );
    purposes = new Map(
      p.rows.map((r) => [
        r.purpose,
        { text: r.text, legalBasis: r.legal_basis, durationDays: Number(r.duration_days) },
      ]),
    );
  };
  await reload();
  const timer = setInterval(() => {
    reload().catch((err: unknown) => logger.warn({ err }, 'could not reload operator registrations'));
  }, options.refreshMs);
  timer.unref();

  return {
    consumer: (id) => consumers.get(id),
    purpose: (code) => purposes.get(code),
    consumers: () => new Map(consumers),
    async setConsumer(consumerId, info) {
      await pool.query(
        `INSERT INTO operator_consumers (consumer_id, display_name, agency, redirect_uris)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer_id) DO UPDATE SET display_name = EXCLUDED.display_name, agency = EXCLUDED.agency,
           redirect_uris = EXCLUDED.redirect_uris, disabled_at = NULL, updated_at = now()`,
        [consumerId, info.displayName, info.agency, JSON.stringify(info.redirectUris)],
      );
      await reload();
    },
    async setPurpose(purpose, info) {
      await pool.query(
        `INSERT INTO operator_purposes (purpose, text, legal_basis, duration_days) VALUES ($1, $2, $3, $4)
         ON CONFLICT (purpose) DO UPDATE SET text = EXCLUDED.text, legal_basis = EXCLUDED.legal_basis,
           duration_days = EXCLUDED.duration_days, updated_at = now()`,
        [purpose, info.text, info.legalBasis, info.durationDays],
      );
      await reload();
    },
    async disableConsumer(consumerId, fallback) {
      const updated = await pool.query(
        'UPDATE operator_consumers SET disabled_at = now(), updated_at = now() WHERE consumer_id = $1',
        [consumerId],
      );
      if ((updated.rowCount ?? 0) === 0) {
        if (!fallback) return false;
        await pool.query(
          `INSERT INTO operator_consumers (consumer_id, display_name, agency, redirect_uris, disabled_at)
           VALUES ($1, $2, $3, $4, now())`,
          [consumerId, fallback.displayName, fallback.agency, JSON.stringify(fallback.redirectUris)],
        );
      }
      await reload();
      return true;
    },
    reload,
    stop: () => clearInterval(timer),
  };
}
