import { formatDate } from './format.ts';
import { html, layout, type PageContext, type Raw } from './pages.ts';

/** A field as the citizen reads it: which agency holds it and what it is called. */
export interface AccessFieldView {
  agency: string;
  displayName: string;
}

export interface WithheldFieldView extends AccessFieldView {
  /** Plain-language reason it was not shared. */
  reason: string;
}

/** What allowed some of the shared fields: one line per consent (or per "the rules"), naming the fields. */
export interface AllowedByView {
  /** e.g. "The consent you gave on 1 March 2026 at 09:00 UTC". */
  text: string;
  /** Display names of the shared fields it allowed. */
  fields: string[];
}

/** One access to the citizen's data, ready to show. */
export interface AccessView {
  /** The audit record id. */
  id: number;
  occurredAt: string;
  consumerName: string;
  consumerAgency: string;
  purposeText: string;
  /** Plain-language summary of how the request ended. */
  outcomeText: string;
  released: AccessFieldView[];
  withheld: WithheldFieldView[];
  /** What allowed the shared fields; empty when nothing was shared (or an old record does not say). */
  allowedBy: AllowedByView[];
  /** True when NDX asked the citizen for consent to the fields not shared. */
  consentRequested: boolean;
  /** Who at the app asked, as the app reported it ("The applicant (you)", "An officer of …"), or null. */
  askedBy: string | null;
  /** Reference for a complaint: NDX's own reference for the request. */
  reference: string;
}

export interface AccessLogView {
  items: AccessView[];
  /** Link to the next (older) page, or null at the end. */
  olderHref: string | null;
  /** True when this is not the first (newest) page. */
  paged: boolean;
}

/** Plain-language text for each audit withheld reason. */
export const withheldReasonText: Record<string, string> = {
  FORBIDDEN: 'not allowed: the rules do not let this app see it',
  CONSENT_REQUIRED: 'not shared: your consent was needed and had not been given',
  PROVIDER_UNAVAILABLE: "not shared: the agency's system could not be reached",
  PROVIDER_ERROR: "not shared: the agency's system answered with an error",
  INTERNAL_ERROR: 'not shared: an error in the data exchange',
};

/** Plain-language text for each audit outcome. */
export const outcomeText: Record<string, string> = {
  SUCCESS: 'Everything asked for was shared.',
  PARTIAL: 'Some of what was asked for was shared.',
  DENIED: 'Nothing was shared.',
  CONSENT_REQUIRED: 'Nothing was shared: you were asked for your consent.',
  REJECTED: 'The request was refused before any of your data was looked at.',
  ERROR: 'Nothing was shared because of an error.',
};

function groupByAgency<F extends AccessFieldView>(fields: F[]): [string, F[]][] {
  const groups = new Map<string, F[]>();
  for (const f of fields) groups.set(f.agency, [...(groups.get(f.agency) ?? []), f]);
  return [...groups.entries()];
}

function fieldList<F extends AccessFieldView>(fields: F[], describe: (f: F) => Raw | string): Raw {
  return html`<ul>
    ${groupByAgency(fields).map(
      ([agency, list]) =>
        html`<li>
          From ${agency}:
          <ul>
            ${list.map((f) => html`<li>${describe(f)}</li>`)}
          </ul>
        </li>`,
    )}
  </ul>`;
}

function accessCard(access: AccessView): Raw {
  return html`<li class="card access">
    <article aria-labelledby="access-${access.id}">
      <h2 id="access-${access.id}">
        <time datetime="${access.occurredAt}">${formatDate(access.occurredAt)}</time>
      </h2>
      <dl>
        <dt>Who</dt>
        <dd>${access.consumerName}${access.consumerAgency ? html`, ${access.consumerAgency}` : ''}</dd>
        ${
          access.askedBy
            ? html`<dt>Asked by</dt>
                <dd>${access.askedBy} <span class="hint">(as the app reported it)</span></dd>`
            : ''
        }
        <dt>Why</dt>
        <dd>${access.purposeText}</dd>
        <dt>What happened</dt>
        <dd>
          ${access.outcomeText}${
            access.consentRequested
              ? html` <span class="hint">You were asked for your consent to the rest.</span>`
              : ''
          }
        </dd>
        ${
          access.released.length > 0
            ? html`<dt>Shared</dt>
                <dd>${fieldList(access.released, (f) => f.displayName)}</dd>`
            : ''
        }
        ${
          access.released.length > 0 && access.allowedBy.length > 0
            ? html`<dt>Allowed by</dt>
                <dd>
                  <ul class="allowed-by">
                    ${access.allowedBy.map((a) => html`<li>${a.text}: ${a.fields.join(', ')}</li>`)}
                  </ul>
                </dd>`
            : ''
        }
        ${
          access.withheld.length > 0
            ? html`<dt>Not shared</dt>
                <dd>${fieldList(access.withheld, (f) => html`${f.displayName}: ${f.reason}`)}</dd>`
            : ''
        }
      </dl>
      <p class="hint">Reference ${access.reference}</p>
    </article>
  </li>`;
}

/** "Who accessed my data": every access to the signed-in citizen's data, newest first, a page at a time. */
export function accessLogPage(view: AccessLogView, context: PageContext): string {
  const intro = html`<p>
    Every time an app asked the National Data Exchange for your data, it was recorded. The newest is first.
    Only you can see this list.
  </p>`;
  const nav =
    view.olderHref || view.paged
      ? html`<nav aria-label="Pages" class="actions">
          ${view.paged ? html`<a class="button secondary" href="/consent/mine/access">Newest</a>` : ''}
          ${view.olderHref ? html`<a class="button" href="${view.olderHref}" rel="next">Older</a>` : ''}
        </nav>`
      : '';
  const body =
    view.items.length === 0
      ? html`${intro}
          <div class="card" role="status">
            <p>${view.paged ? 'There are no older accesses.' : 'No one has accessed your data yet.'}</p>
          </div>
          ${nav}`
      : html`${intro}
          <ol class="access-log" style="list-style:none;margin:0;padding:0">
            ${view.items.map(accessCard)}
          </ol>
          ${nav}`;
  return layout('Who accessed my data', context, body);
}
