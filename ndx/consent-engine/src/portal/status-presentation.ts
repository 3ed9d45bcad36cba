import type { ConsentStatus } from '@ndx/contract';
import type { ConsentRecord } from '../consent-lifecycle.ts';
import { html, type SafeHtml as Raw } from '@ndx/service-kit';
import { formatDate } from './format.ts';

/** How the portal shows a consent in one status: every status-dependent word or control, in one table. */
export interface StatusPresentation {
  /** Colour of the status badge. */
  colour: string;
  /** The request page offers approve and deny (only while the request is open). */
  answerable: boolean;
  /** "For how long" on the request page. */
  term: 'until-expiry' | 'duration-once-approved';
  /** Which fields "My consents" names: every field asked for, or those the citizen granted. */
  listedFields: 'requested' | 'granted';
  /** The "Until" column of "My consents". */
  until: (consent: ConsentRecord) => Raw;
  /** The control "My consents" offers. */
  action: 'withdraw' | 'answer' | 'none';
  /** The page after the citizen's decision, for the statuses a decision leads to. */
  decided?: { title: string; message: (grantedNames: string[]) => string };
}

const ended = () => html`Ended`;

/** Every consent status as the portal shows it. */
export const statusPresentation: Record<ConsentStatus, StatusPresentation> = {
  PENDING: {
    colour: '#7a4d00',
    answerable: true,
    term: 'duration-once-approved',
    listedFields: 'requested',
    until: (consent) => html`Request open until ${formatDate(consent.expiresAt)}`,
    action: 'answer',
  },
  ACTIVE: {
    colour: '#1e6b2f',
    answerable: false,
    term: 'until-expiry',
    listedFields: 'granted',
    until: (consent) => html`Until ${formatDate(consent.expiresAt)}`,
    action: 'withdraw',
    decided: {
      title: 'Thank you: consent given',
      message: (granted) =>
        `You agreed to share: ${granted.join(', ')}. You can withdraw this at any time from “My consents”.`,
    },
  },
  REJECTED: {
    colour: '#a4161a',
    answerable: false,
    term: 'duration-once-approved',
    listedFields: 'granted',
    until: ended,
    action: 'none',
    decided: {
      title: 'Thank you: nothing will be shared',
      message: () => 'You chose not to share this data.',
    },
  },
  REVOKED: {
    colour: '#a4161a',
    answerable: false,
    term: 'duration-once-approved',
    listedFields: 'granted',
    until: (consent) => html`Withdrawn ${formatDate(consent.revokedAt)}`,
    action: 'none',
  },
  EXPIRED: {
    colour: '#4a4f57',
    answerable: false,
    term: 'duration-once-approved',
    listedFields: 'granted',
    until: ended,
    action: 'none',
  },
};

/** The status badges' colours, as CSS rules (`.status-ACTIVE{color:…}`). */
export const statusBadgeStyle = (Object.entries(statusPresentation) as [ConsentStatus, StatusPresentation][])
  .map(([status, p]) => `.status-${status}{color:${p.colour}}`)
  .join('');
