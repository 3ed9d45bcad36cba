import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { listAccessesForCitizen, type CitizenAccess, type CitizenAccessPage } from '@ndx/audit';
import { BadRequestError, createPool, NdxError, type Logger, type Pool } from '@ndx/service-kit';
import type { PurposeInfo } from './config.ts';
import { consentPortalPaths, fieldKey, parseNic, type FieldRef } from '@ndx/contract';
import type { ConsentStore } from './consent-store.ts';
import { readableFieldName } from './portal/field-names.ts';
import {
  accessLogPage,
  outcomeText,
  withheldReasonText,
  type AccessView,
  type AllowedByView,
} from './portal/access-log-page.ts';
import { formatDate } from './portal/format.ts';
import { messagePage } from './portal/pages.ts';
import type { PortalKit } from './portal/routes.ts';

/** The audit log cannot be read (not configured, unreachable, or not migrated yet). */
export class AccessLogUnavailableError extends NdxError {
  constructor(message: string) {
    super('ACCESS_LOG_UNAVAILABLE', message, 503);
  }
}

/** Read-only access to the audit log's per-citizen listing. */
export interface AccessLogReader {
  /** One page of the citizen's accesses, newest first; AccessLogUnavailableError when the log cannot be read. */
  list(nic: string, options: { limit: number; before?: number }): Promise<CitizenAccessPage>;
  close(): Promise<void>;
}

/**
 * An AccessLogReader over the audit database (AUDIT_DATABASE_URL). Every connection is opened
 * read-only (default_transaction_read_only); connecting and each statement are bounded in time, so a dead database gives
 * a quick "unavailable" instead of a hanging page.
 */
export function createAccessLogReader(
  databaseUrl: string,
  logger: Logger,
  options: { timeoutMs?: number } = {},
): AccessLogReader {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const readOnly = new URL(databaseUrl);
  readOnly.searchParams.set('options', '-c default_transaction_read_only=on');
  const pool: Pool = createPool(readOnly.href, logger, {
    max: 4,
    connectionTimeoutMs: timeoutMs,
    statementTimeoutMs: timeoutMs,
    applicationName: 'consent-engine-access-log',
  });
  return {
    async list(nic, listOptions) {
      try {
        return await listAccessesForCitizen(pool, nic, listOptions);
      } catch (err) {
        if (err instanceof BadRequestError) throw err;
        logger.warn({ err: (err as Error).message }, 'audit log could not be read for the access log');
        throw new AccessLogUnavailableError('the audit log cannot be read right now');
      }
    },
    close: () => pool.end(),
  };
}

export interface AccessLogOptions {
  /** Undefined when AUDIT_DATABASE_URL is not configured: the page then says the log is unavailable. */
  reader: AccessLogReader | undefined;
  store: ConsentStore;
  purposes: Record<string, PurposeInfo>;
  /** Agency name for a provider key. */
  agencyOf: (providerKey: string) => string;
  /** Accesses per page. */
  pageSize: number;
}

/** `?before=` is the keyset cursor: the audit id the next (older) page starts below. Anything else is ignored. */
const accessQuery = z.object({
  before: z
    .string()
    .regex(/^[1-9]\d{0,15}$/)
    .transform(Number)
    .refine(Number.isSafeInteger)
    .optional(),
});

/**
 * What allowed the shared fields of one access, one line per consent (or "the rules"), naming the fields.
 * Nothing when nothing was shared. A format 1 record does not say per field; its consentId named the
 * request opened for missing fields when there was one, so it is shown only when that consent had been
 * given by the time of the access (and then it allowed every shared field that needed consent).
 */
function allowedByOf(
  access: CitizenAccess,
  consentGiven: (consentId: string) => string,
  grantedAt: ReadonlyMap<string, string | null>,
  displayName: (f: FieldRef) => string,
): AllowedByView[] {
  const released = access.fieldsReleased;
  if (released.length === 0) return [];
  if (released.every((f) => f.allowedBy === undefined)) {
    const given = access.consentId ? grantedAt.get(access.consentId) : null;
    return given && Date.parse(given) <= Date.parse(access.occurredAt)
      ? [{ text: consentGiven(access.consentId!), fields: released.map(displayName) }]
      : [];
  }
  const lines = new Map<string, string[]>();
  for (const f of released) {
    const text =
      f.allowedBy === undefined
        ? 'Not recorded'
        : f.allowedBy.basis === 'consent'
          ? consentGiven(f.allowedBy.consentId)
          : releasedWithoutConsent(f.allowedBy.legalBasis);
    lines.set(text, [...(lines.get(text) ?? []), displayName(f)]);
  }
  return [...lines].map(([text, fields]) => ({ text, fields }));
}

/**
 * A release the policy permitted without consent: under the grant's legal basis (`legal-obligation` is shown
 * as "a legal obligation"), or, under a consent-based grant, because the field is not personal data.
 */
function releasedWithoutConsent(legalBasis: string | undefined): string {
  if (legalBasis === undefined || legalBasis === 'consent')
    return 'The data-sharing rules, without needing your consent';
  return `The law (${legalBasis.replaceAll('-', ' ')}), without needing your consent`;
}

/**
 * Who at the app asked, as the app asserted it (NDX does not verify it): the citizen themselves as the
 * applicant, an officer of the app's agency, or someone else applying; null when the app did not say.
 */
function askedByOf(access: CitizenAccess, citizenId: string, agency: string): string | null {
  const user = access.endUser;
  if (!user) return null;
  if (user.role === 'officer') return agency ? `An officer of the ${agency}` : 'An officer using the app';
  return parseNic(user.subject) === citizenId ? 'The applicant (you)' : 'An applicant other than you';
}

/**
 * GET /consent/mine/access: the signed-in citizen's access log, read from the audit log. The NIC
 * comes from the portal session only; nothing in the URL can name another citizen.
 */
export function accessLogRoutes(options: AccessLogOptions) {
  const { reader, store } = options;
  return (portal: PortalKit) =>
    async function register(app: FastifyInstance): Promise<void> {
      if (reader) app.addHook('onClose', () => reader.close());

      app.get(consentPortalPaths.access, async (request, reply) => {
        const session = await portal.sessionOf(request);
        if (!session?.citizenId) return portal.signIn(reply, consentPortalPaths.access);
        const parsed = accessQuery.safeParse(request.query);
        if (!parsed.success) throw new BadRequestError('This page link is not valid.');
        const { before } = parsed.data;

        const unavailable = () =>
          portal.page(
            reply,
            503,
            messagePage(
              'Access log unavailable',
              'The record of who accessed your data cannot be shown right now. Nothing is lost: please try again later.',
              portal.contextOf(session),
            ),
          );
        if (!reader) return unavailable();
        let accesses: CitizenAccessPage;
        try {
          accesses = await reader.list(session.citizenId, {
            limit: options.pageSize,
            ...(before !== undefined ? { before } : {}),
          });
        } catch (err) {
          if (err instanceof AccessLogUnavailableError) return unavailable();
          throw err;
        }

        const consents = await store.listForCitizen(session.citizenId);
        const displayNames = new Map<string, string>();
        for (const consent of consents)
          for (const f of consent.fields) displayNames.set(fieldKey(f), f.displayName);
        const grantedAt = new Map(consents.map((c) => [c.id, c.grantedAt]));
        const field = (f: FieldRef) => ({
          agency: options.agencyOf(f.providerKey),
          displayName: displayNames.get(fieldKey(f)) ?? readableFieldName(f.field),
        });
        const consentGiven = (consentId: string) => {
          const given = grantedAt.get(consentId);
          return given ? `The consent you gave on ${formatDate(given)}` : `Your consent ${consentId}`;
        };
        const toView = (access: CitizenAccess): AccessView => {
          const consumer = store.consumer(access.consumerId);
          const agency = consumer?.agency ?? '';
          const purpose =
            access.purpose !== null && Object.hasOwn(options.purposes, access.purpose)
              ? options.purposes[access.purpose]!.text
              : (access.purpose ?? 'No purpose was given');
          return {
            id: access.id,
            occurredAt: access.occurredAt,
            consumerName: consumer?.displayName ?? access.consumerId,
            consumerAgency: consumer?.agency ?? '',
            purposeText: purpose,
            outcomeText: outcomeText[access.outcome] ?? access.outcome,
            released: access.fieldsReleased.map(field),
            withheld: access.fieldsWithheld.map((f) => ({
              ...field(f),
              reason: withheldReasonText[f.reason] ?? f.reason,
            })),
            allowedBy: allowedByOf(access, consentGiven, grantedAt, (f) => field(f).displayName),
            consentRequested:
              access.consentRequested !== null &&
              access.fieldsReleased.length > 0 &&
              access.fieldsWithheld.some((f) => f.reason === 'CONSENT_REQUIRED'),
            askedBy: askedByOf(access, session.citizenId!, agency),
            reference: access.reference,
          };
        };

        return portal.page(
          reply,
          200,
          accessLogPage(
            {
              items: accesses.items.map(toView),
              olderHref:
                accesses.nextBefore === null
                  ? null
                  : `${consentPortalPaths.access}?before=${accesses.nextBefore}`,
              paged: before !== undefined,
            },
            portal.contextOf(session),
          ),
        );
      });
    };
}
