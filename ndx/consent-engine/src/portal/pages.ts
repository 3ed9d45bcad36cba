import { fieldKey, type ConsentField } from '@ndx/contract';
import { SafeHtml as Raw, html } from '@ndx/service-kit';
import type { ConsentRecord } from '../consent-lifecycle.ts';
import { durationText, formatDate } from './format.ts';
import { statusBadgeStyle, statusPresentation, type StatusPresentation } from './status-presentation.ts';

// Escaping is the kit's: one implementation for every server-rendered page in NDX.
export { html, SafeHtml as Raw } from '@ndx/service-kit';

export interface PageContext {
  citizenId?: string | null | undefined;
  csrfToken?: string | undefined;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#f4f5f7}
header{background:#0b3d66;color:#fff;padding:.75rem 1rem}
header a,header button{color:#fff}
header .brand{font-weight:700;font-size:1.1rem;margin:0}
nav ul{list-style:none;margin:.5rem 0 0;padding:0;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
main{max-width:44rem;margin:0 auto;padding:1rem}
.card{background:#fff;border:1px solid #c9ccd1;border-radius:.5rem;padding:1rem;margin:0 0 1rem}
h1{font-size:1.5rem;line-height:1.25;margin:.25rem 0 1rem}
h2{font-size:1.15rem;margin:0 0 .5rem}
dl{margin:0}dt{font-weight:600}dd{margin:0 0 .5rem}
fieldset{border:1px solid #c9ccd1;border-radius:.5rem;margin:0 0 1rem;padding:.5rem 1rem}
legend{font-weight:700;padding:0 .25rem}
.field{display:flex;gap:.75rem;align-items:flex-start;padding:.5rem 0;border-top:1px solid #e4e6ea}
.field:first-of-type{border-top:0}
.field input{width:1.5rem;height:1.5rem;margin-top:.1rem;flex:none}
.hint{display:block;color:#4a4f57;font-size:.925rem}
.actions{display:flex;flex-wrap:wrap;gap:.75rem}
button,.button{font:inherit;font-weight:600;border-radius:.375rem;padding:.65rem 1.1rem;border:2px solid #0b5394;background:#0b5394;color:#fff;cursor:pointer;text-decoration:none;display:inline-block;min-height:2.75rem}
button.secondary,.button.secondary{background:#fff;color:#0b5394}
button.danger{background:#fff;color:#a4161a;border-color:#a4161a}
header button.link{background:none;border:0;padding:0;min-height:0;font-weight:400;text-decoration:underline}
.skip{position:absolute;left:-9999px;background:#fff;color:#0b3d66;padding:.5rem}.skip:focus{left:1rem;top:.5rem}
:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
.status{display:inline-block;font-weight:700;font-size:.85rem;padding:.1rem .5rem;border-radius:1rem;border:1px solid currentColor}
${statusBadgeStyle}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.5rem;border-top:1px solid #e4e6ea;vertical-align:top}
@media (max-width:36rem){table,thead,tbody,tr,th,td{display:block}thead{position:absolute;left:-9999px}td{border:0;padding:.2rem 0}tr{border-top:1px solid #c9ccd1;padding:.5rem 0}}
`;

/** The page frame: skip link, header with navigation, main landmark. */
export function layout(title: string, context: PageContext, body: Raw): string {
  const signedIn = Boolean(context.citizenId);
  return `<!doctype html>${html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>${title} · NDX consent</title>
      <style>
        ${new Raw(STYLE)}
      </style>
    </head>
    <body>
      <a href="#main" class="skip">Skip to content</a>
      <header>
        <p class="brand">Farajaland National Data Exchange: your consents</p>
        ${
          signedIn
            ? html`<nav aria-label="Main">
                <ul>
                  <li><a href="/consent/mine">My consents</a></li>
                  <li><a href="/consent/mine/access">Who accessed my data</a></li>
                  <li>Signed in as ${context.citizenId}</li>
                  <li>
                    <form method="post" action="/auth/logout">
                      <input type="hidden" name="csrf" value="${context.csrfToken}" /><button
                        class="link"
                        type="submit"
                      >
                        Sign out
                      </button>
                    </form>
                  </li>
                </ul>
              </nav>`
            : ''
        }
      </header>
      <main id="main">
        <h1>${title}</h1>
        ${body}
      </main>
    </body>
  </html>`}`;
}

/** A page that explains a refusal or error, with nothing to click but a safe link. */
export function messagePage(title: string, message: string, context: PageContext = {}): string {
  return layout(title, context, html`<div class="card" role="alert"><p>${message}</p></div>`);
}

export interface ConsentView {
  consent: ConsentRecord;
  consumerName: string;
  consumerAgency: string;
  agencyOf: (providerKey: string) => string;
  redirectUri?: string | undefined;
  state?: string | undefined;
  /** Where "return to the app" goes for a consent that was already decided. */
  returnUrl?: string | undefined;
}

function groupByAgency(fields: ConsentField[], agencyOf: (providerKey: string) => string) {
  const groups = new Map<string, ConsentField[]>();
  for (const f of fields) {
    const agency = agencyOf(f.providerKey);
    groups.set(agency, [...(groups.get(agency) ?? []), f]);
  }
  return [...groups.entries()];
}

/** The consent request page: who asks, why, which fields from which agency, for how long; approve all / some / deny. */
export function consentPage(view: ConsentView, context: PageContext): string {
  const { consent } = view;
  const shown = statusPresentation[consent.status];
  const summary = html`<div class="card">
    <dl>
      <dt>Who is asking</dt>
      <dd>${view.consumerName}, ${view.consumerAgency}</dd>
      <dt>Why</dt>
      <dd>${consent.purposeText}</dd>
      <dt>For how long</dt>
      <dd>
        ${
          shown.term === 'until-expiry'
            ? html`Until ${formatDate(consent.expiresAt)}`
            : html`${durationText(consent.durationSeconds)} from the moment you approve`
        }
      </dd>
      <dt>Status</dt>
      <dd><span class="status status-${consent.status}">${consent.status}</span></dd>
    </dl>
  </div>`;

  if (!shown.answerable) {
    return layout(
      'Consent request',
      context,
      html`${summary}
        <div class="card">
          <p>This request has already been answered or has ended; there is nothing more to decide.</p>
          ${view.returnUrl ? html`<p><a class="button" href="${view.returnUrl}">Return to ${view.consumerName}</a></p>` : ''}
          <p><a href="/consent/mine">See all my consents</a></p>
        </div>`,
    );
  }

  const groups = groupByAgency(consent.fields, view.agencyOf);
  const form = html`<form method="post" action="/consent/${consent.id}/decision" class="card">
    <input type="hidden" name="csrf" value="${context.csrfToken}" />
    ${view.redirectUri ? html`<input type="hidden" name="redirect_uri" value="${view.redirectUri}" />` : ''}
    ${view.state !== undefined ? html`<input type="hidden" name="state" value="${view.state}" />` : ''}
    <h2>What would be shared</h2>
    <p class="hint">Untick anything you do not want to share, then choose “Share selected”.</p>
    ${groups.map(
      ([agency, fields]) =>
        html`<fieldset>
          <legend>From ${agency}</legend>
          ${fields.map((f) => {
            const key = fieldKey(f);
            const inputId = `f-${Buffer.from(key).toString('hex')}`;
            return html`<div class="field">
              <input
                type="checkbox"
                name="field"
                value="${key}"
                id="${inputId}"
                checked${f.description ? html` aria-describedby="${inputId}-d"` : ''}
              />
              <label for="${inputId}"
                >${f.displayName}${f.description ? html`<span class="hint" id="${inputId}-d">${f.description}</span>` : ''}</label
              >
            </div>`;
          })}
        </fieldset>`,
    )}
    <div class="actions">
      <button type="submit" name="action" value="approve-selected">Share selected</button>
      <button type="submit" name="action" value="approve-all" class="secondary">Share all</button>
      <button type="submit" name="action" value="deny" class="danger">Do not share</button>
    </div>
    <p class="hint">
      You can withdraw your consent at any time from “My consents”. Notice version ${consent.noticeVersion}.
    </p>
  </form>`;
  return layout(`${view.consumerName} asks to see your data`, context, html`${summary}${form}`);
}

/** The controls of "My consents", by the kind the status's presentation names. */
const listAction: Record<
  StatusPresentation['action'],
  (consent: ConsentRecord, consumerName: string, context: PageContext) => Raw | string
> = {
  withdraw: (consent, consumerName, context) =>
    html`<form method="post" action="/consent/mine/${consent.id}/revoke">
      <input type="hidden" name="csrf" value="${context.csrfToken}" /><button
        type="submit"
        class="danger"
        aria-label="Withdraw consent for ${consumerName}"
      >
        Withdraw
      </button>
    </form>`,
  answer: (consent) => html`<a href="/consent/${consent.id}">Answer</a>`,
  none: () => '',
};

export interface ConsentListItem {
  consent: ConsentRecord;
  consumerName: string;
}

/** The citizen's consents with status and expiry; active ones have a revoke button. */
export function consentListPage(items: ConsentListItem[], context: PageContext, notice?: string): string {
  const rows = items.map(({ consent, consumerName }) => {
    const shown = statusPresentation[consent.status];
    return html`<tr>
      <td><strong>${consumerName}</strong><span class="hint">${consent.purposeText}</span></td>
      <td>
        ${consent.fields
          .filter((f) => shown.listedFields === 'requested' || f.granted)
          .map((f) => f.displayName)
          .join(', ')}
      </td>
      <td><span class="status status-${consent.status}">${consent.status}</span></td>
      <td>${shown.until(consent)}</td>
      <td>${listAction[shown.action](consent, consumerName, context)}</td>
    </tr>`;
  });
  const body = html`${notice ? html`<div class="card" role="status"><p>${notice}</p></div>` : ''}
    <div class="card">
      ${
        items.length === 0
          ? html`<p>You have not given any consents.</p>`
          : html`<table>
              <caption class="hint" style="text-align:left">
                Everything you have agreed to share, newest first
              </caption>
              <thead>
                <tr>
                  <th scope="col">Who and why</th>
                  <th scope="col">Data</th>
                  <th scope="col">Status</th>
                  <th scope="col">Until</th>
                  <th scope="col"><span class="hint">Action</span></th>
                </tr>
              </thead>
              <tbody>
                ${rows}
              </tbody>
            </table>`
      }
    </div>`;
  return layout('My consents', context, body);
}
