import { html, type SafeHtml } from '@ndx/service-kit';
import type { SignedInUser } from '../src/access-rules.ts';
import type { Application } from '../src/applications.ts';
import { NIC_FORMAT } from '@ndx/contract';
import {
  AGENCY_NAMES,
  NDX_FIELDS,
  type Agency,
  type FieldStatus,
  type Lookup,
  type NdxField,
} from '../src/passport-lookup.ts';
import { FORM_FIELDS, type FormErrors, type Prefill, type FormFieldKey } from '../src/passport-form.ts';

/** Labels of NDX fields as an officer reads them (used where a field's source is listed). */
const NDX_FIELD_LABELS: Record<NdxField, string> = {
  name: 'name at birth',
  fullName: 'full name',
  otherNames: 'other names',
  address: 'permanent address',
  profession: 'profession',
  dateOfBirth: 'date of birth',
  sex: 'sex',
  'birthInfo.birthRegistrationNumber': 'birth registration number',
  'birthInfo.birthPlace': 'place of birth',
  'birthInfo.district': 'district of birth',
};

const csrfInput = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}" />`;

/** Who is signed in, for the page header (with the CSRF token of the sign-out form). */
export interface PageContext {
  user?: SignedInUser | undefined;
  csrf?: string | undefined;
}

const ROLE_LABEL = { applicant: 'applicant', officer: 'DIE officer' } as const;

function userBar(ctx: PageContext): SafeHtml | string {
  if (!ctx.user || !ctx.csrf) return '';
  const { user } = ctx;
  return html`<div class="user">
    <span data-signed-in="${user.role}"
      >Signed in as ${user.name ?? user.subject} (${user.subject}), ${ROLE_LABEL[user.role]}</span
    >
    <form class="inline" method="post" action="/auth/sign-out">
      ${csrfInput(ctx.csrf)}<button class="link" type="submit">Sign out</button>
    </form>
  </div>`;
}

/** The page frame: skip link, header (with who is signed in), one main landmark, stylesheet (no scripts). */
export function layout(title: string, body: SafeHtml, ctx: PageContext = {}): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · DIE passport application</title>
        <link rel="stylesheet" href="/assets/app.css" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to main content</a>
        <header>
          <div class="inner">
            <a class="brand" href="/">Passport application</a>
            <span class="agency">Department of Immigration and Emigration</span>
          </div>
          ${userBar(ctx)}
        </header>
        <main id="main" tabindex="-1">${body}</main>
        <footer>
          Data about the applicant is fetched through NDX, the National Data Exchange, and only with their
          consent where the law requires it.
        </footer>
      </body>
    </html>`.value;
}

export interface SignInPageView {
  csrf: string;
  /** The app path to return to after signing in. */
  next: string;
  /** Shown above the form, e.g. after signing out. */
  notice?: string;
}

/** The page for anyone not signed in: nothing about any citizen is shown or fetched before FUDI sign-in. */
export function signInPage(view: SignInPageView): string {
  return layout(
    'Sign in',
    html`<h1>Apply for a passport</h1>
      ${view.notice ? html`<div class="notice success" role="status"><p>${view.notice}</p></div>` : ''}
      <div class="card">
        <p class="lead">
          Sign in with FUDI, Farajaland’s national digital identity, using your NIC number and password. You
          can then apply for your own passport; the details the form needs are fetched from the national
          registries through NDX, with your consent.
        </p>
        <p>DIE officers sign in with their own FUDI account to process applications.</p>
        <form method="post" action="/auth/sign-in">
          ${csrfInput(view.csrf)}
          <input type="hidden" name="next" value="${view.next}" />
          <div class="actions"><button type="submit">Sign in with FUDI</button></div>
        </form>
      </div>`,
  );
}

export interface StartPageView {
  csrf: string;
  user: SignedInUser;
  nic?: string;
  error?: string;
  recent: Application[];
}

/** Start page: an applicant starts their own application, an officer enters the applicant's NIC. */
export function startPage(view: StartPageView): string {
  const describedBy = view.error ? 'nic-hint nic-error' : 'nic-hint';
  const officer = view.user.role === 'officer';
  return layout(
    'Start an application',
    html`<h1>Start a passport application</h1>
      <div class="card">
        <p class="lead">
          ${
            officer
              ? 'Enter the applicant’s National Identity Card number. The details the form needs are then fetched from the national registries through NDX, with the applicant’s consent.'
              : 'Apply for your own passport with your National Identity Card number. The details the form needs are then fetched from the national registries through NDX, with your consent.'
          }
        </p>
        <form method="post" action="/applications" novalidate>
          ${csrfInput(view.csrf)}
          <div class="field${view.error ? ' has-error' : ''}">
            <label for="nic">NIC number</label>
            <span class="hint" id="nic-hint">${NIC_FORMAT}</span>
            ${view.error ? html`<span class="error-message" id="nic-error" role="alert">${view.error}</span>` : ''}
            <input
              class="nic"
              type="text"
              id="nic"
              name="nic"
              value="${view.nic ?? (officer ? '' : view.user.subject)}"
              inputmode="text"
              autocomplete="off"
              spellcheck="false"
              maxlength="20"
              required
              aria-describedby="${describedBy}"
              ${view.error ? html` aria-invalid="true"` : ''}
            />
          </div>
          <div class="actions"><button type="submit">Start application</button></div>
        </form>
      </div>
      ${
        view.recent.length > 0
          ? html`<div class="card">
              <h2>${officer ? 'Applications you started' : 'Your applications'}</h2>
              <table class="list">
                <thead>
                  <tr>
                    <th scope="col">NIC</th>
                    <th scope="col">Status</th>
                    <th scope="col">Started</th>
                  </tr>
                </thead>
                <tbody>
                  ${view.recent.map(
                    (a) =>
                      html`<tr>
                        <td><a href="/applications/${a.id}">${a.nic}</a></td>
                        <td>${a.status === 'SUBMITTED' ? 'Submitted' : 'Draft'}</td>
                        <td>${formatTime(a.createdAt)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
          : ''
      }`,
    { user: view.user, csrf: view.csrf },
  );
}

/** Which agency holds which of the fields waiting for consent. */
function fieldsByAgency(fields: NdxField[]): [Agency, NdxField[]][] {
  const groups = new Map<Agency, NdxField[]>();
  for (const f of fields) groups.set(NDX_FIELDS[f], [...(groups.get(NDX_FIELDS[f]) ?? []), f]);
  return [...groups.entries()];
}

/** The interstitial before the citizen is sent to the consent portal. */
export function consentNeededPage(
  application: Application,
  waiting: NdxField[],
  ctx: PageContext & { csrf: string },
): string {
  const { csrf } = ctx;
  const officer = ctx.user?.role === 'officer';
  return layout(
    'The applicant’s consent is needed',
    html`<h1>The applicant’s consent is needed</h1>
      <div class="card">
        <p class="lead">
          Some details for this passport application are held by other government agencies. The law lets them
          share those details with the Department of Immigration only if the applicant agrees.
        </p>
        <p>Applicant NIC: <strong class="code">${application.nic}</strong></p>
        <h2>What will be asked</h2>
        ${fieldsByAgency(waiting).map(
          ([agency, fields]) =>
            html`<p>
              <span class="badge badge-${agency}">${agency}</span>${AGENCY_NAMES[agency]}:
              ${fields.map((f) => NDX_FIELD_LABELS[f]).join(', ')}
            </p>`,
        )}
        <h2>What happens next</h2>
        <ol>
          <li>
            The applicant is taken to the NDX consent portal and signs in there with their own NIC and
            password.
          </li>
          <li>
            The portal shows who is asking, why (a passport application) and exactly which details. The
            applicant can agree to all, some or none.
          </li>
          <li>They are brought back here and the form is filled in with what they agreed to share.</li>
        </ol>
        ${
          officer
            ? html`<p>
                Hand the device to the applicant for this step. Officers never see the applicant’s password.
              </p>`
            : ''
        }
        <div class="actions">
          <form class="inline" method="post" action="/applications/${application.id}/consent">
            ${csrfInput(csrf)}
            <button type="submit">Continue to the consent portal</button>
          </form>
          <a class="button secondary" href="/applications/${application.id}?manual=1"
            >Fill in the form by hand instead</a
          >
        </div>
      </div>`,
    ctx,
  );
}

/** Shown when the citizen declined to share; the form is continued by hand. */
export function consentDeclinedPage(application: Application, ctx: PageContext): string {
  return layout(
    'The applicant did not agree to share',
    html`<h1>The applicant did not agree to share their details</h1>
      <div class="card">
        <div class="notice warning" role="status">
          <p>
            Nothing that needs the applicant’s consent was shared with the Department of Immigration. This is
            the applicant’s right and does not stop the application.
          </p>
        </div>
        <p>
          Complete the form by hand from the applicant’s documents (birth certificate, national identity
          card).
        </p>
        <div class="actions">
          <a class="button" href="/applications/${application.id}?manual=1">Complete the form by hand</a>
        </div>
      </div>`,
    ctx,
  );
}

export interface FormPageView {
  application: Application;
  user: SignedInUser;
  csrf: string;
  prefill: Record<FormFieldKey, Prefill>;
  /** The officer's values after a failed submit (otherwise the prefill values are used). */
  values?: Record<string, string>;
  errors?: FormErrors;
  /** The citizen's latest decision, if they came back from the portal. */
  declined: boolean;
}

/** The application form, pre-filled from NDX, each value marked with the agency it came from. */
export function formPage(view: FormPageView): string {
  const { application, prefill } = view;
  const lookup = application.sources.lookup;
  const errors = view.errors ?? {};
  const errorKeys = Object.keys(errors) as FormFieldKey[];
  return layout(
    errorKeys.length ? 'Check the application' : 'Passport application',
    html`<h1>Passport application</h1>
      <p>Applicant NIC: <strong class="code">${application.nic}</strong></p>
      ${
        errorKeys.length
          ? html`<div class="notice problem" role="alert" tabindex="-1">
              <h2>Check the application</h2>
              <ul>
                ${errorKeys.map((k) => html`<li><a href="#${k}">${labelOf(k)} ${errors[k]}</a></li>`)}
              </ul>
            </div>`
          : ''
      }
      ${lookupNotice(lookup, view.declined)} ${lookupActions(application, view.csrf, lookup)}
      <form method="post" action="/applications/${application.id}/submit" novalidate class="card">
        ${csrfInput(view.csrf)}
        ${FORM_FIELDS.map((spec) => fieldBlock(spec, prefill[spec.key], view.values?.[spec.key], errors[spec.key], view.declined))}
        <div class="actions"><button type="submit">Submit application</button></div>
      </form>`,
    { user: view.user, csrf: view.csrf },
  );
}

function labelOf(key: FormFieldKey): string {
  return FORM_FIELDS.find((f) => f.key === key)?.label ?? key;
}

function lookupNotice(lookup: Lookup | undefined, declined: boolean): SafeHtml {
  if (!lookup) return html``;
  const when = formatTime(new Date(lookup.fetchedAt));
  if (lookup.outcome === 'FAILED') {
    return html`<div class="notice problem" role="status">
      <p>
        <strong>No details could be fetched from NDX</strong> (<span class="code"
          >${lookup.problem?.code ?? 'NDX_ERROR'}</span
        >): ${problemText(lookup.problem?.code)}
      </p>
      <p>You can fill in the form by hand, or fetch again.</p>
    </div>`;
  }
  if (lookup.outcome === 'NOT_FOUND') {
    return html`<div class="notice warning" role="status">
      <p>
        The registries hold no record for this NIC (checked ${when}). Check the number, or fill in the form by
        hand.
      </p>
    </div>`;
  }
  const values = Object.values(lookup.values);
  const released = values.filter((v) => v.status === 'RELEASED').length;
  const consent = values.some((v) => v.status === 'CONSENT_REQUIRED');
  return html`<div class="notice${lookup.outcome === 'COMPLETE' ? ' success' : ''}" role="status">
    <p>
      Fetched through NDX ${when}: ${released} of ${values.length} details released. Each value below shows
      the agency it came from; check it against the applicant’s documents. Anything not released can be filled
      in by hand.
    </p>
    ${consent && declined ? html`<p>The applicant did not agree to share some details.</p>` : ''}
    ${consent && !declined ? html`<p>Some details need the applicant’s consent.</p>` : ''}
  </div>`;
}

function lookupActions(application: Application, csrf: string, lookup: Lookup | undefined): SafeHtml {
  return html`<div class="actions toolbar">
    <form class="inline" method="post" action="/applications/${application.id}/refresh">
      ${csrfInput(csrf)}<button class="secondary" type="submit">Fetch again from NDX</button>
    </form>
    ${
      lookup?.consent
        ? html`<form class="inline" method="post" action="/applications/${application.id}/consent">
            ${csrfInput(csrf)}<button class="secondary" type="submit">Ask the applicant for consent</button>
          </form>`
        : ''
    }
  </div>`;
}

function problemText(code: string | undefined): string {
  switch (code) {
    case 'AUDIT_UNAVAILABLE':
      return 'NDX could not record the access in its audit log, so it released nothing. Try again shortly.';
    case 'UNAUTHENTICATED':
      return 'NDX did not accept this application’s credentials. Tell the DIE system administrator.';
    case 'BAD_USER_INPUT':
      return 'NDX did not accept the NIC.';
    case 'UPSTREAM_UNAVAILABLE':
      return 'NDX (or the sign-in service it relies on) could not be reached.';
    default:
      return 'NDX did not answer the request.';
  }
}

const STATUS_TEXT: Record<Exclude<FieldStatus, 'RELEASED'>, (agency: Agency) => string> = {
  NO_VALUE: (a) => `${a} holds no value`,
  FORBIDDEN: () => 'not released to this application (policy)',
  CONSENT_REQUIRED: () => 'needs the applicant’s consent',
  PROVIDER_UNAVAILABLE: (a) => `${a} could not be reached`,
  PROVIDER_ERROR: (a) => `${a} answered with an error`,
  NOT_FETCHED: () => 'NDX was not reached',
};

function statusText(status: FieldStatus, agency: Agency, declined: boolean): string {
  if (status === 'RELEASED') return `from ${agency}`;
  if (status === 'CONSENT_REQUIRED' && declined) return 'the applicant did not agree to share this';
  return STATUS_TEXT[status](agency);
}

function fieldBlock(
  spec: (typeof FORM_FIELDS)[number],
  prefill: Prefill,
  typed: string | undefined,
  error: string | undefined,
  declined: boolean,
): SafeHtml {
  const id = spec.key;
  const value = typed ?? prefill.value;
  const describedBy = [`${id}-source`, error ? `${id}-error` : ''].filter(Boolean).join(' ');
  const attrs = html` id="${id}" name="${id}"
  aria-describedby="${describedBy}"${spec.required ? html` required` : ''}${error ? html` aria-invalid="true"` : ''}`;
  const primary = prefill.sources[0]!;
  const source = prefill.agency
    ? html`<span class="badge badge-${prefill.agency}" title="${AGENCY_NAMES[prefill.agency]}"
        >From ${prefill.agency}</span
      >`
    : primary.status === 'NO_VALUE'
      ? html`<span class="status"
          >${statusText(primary.status, primary.agency, declined)}. Enter it by hand if there is one.</span
        >`
      : html`<span class="status status-withheld"
          >Not fetched: ${statusText(primary.status, primary.agency, declined)}. Enter it by hand.</span
        >`;
  return html`<div
    class="field${error ? ' has-error' : ''}"
    data-field="${id}"
    data-source="${prefill.agency ?? 'NONE'}"
  >
    <label for="${id}"
      >${spec.label}${spec.required ? '' : html` <span class="optional">(optional)</span>`}</label
    >
    <span class="hint" id="${id}-source"
      >${source}${
        prefill.sources.length > 1 && !prefill.mismatch
          ? html`<ul class="sources">
              ${prefill.sources.map(
                (s) =>
                  html`<li>
                    ${s.agency} ${NDX_FIELD_LABELS[s.field]}:
                    ${s.status === 'RELEASED' ? s.value : statusText(s.status, s.agency, declined)}
                  </li>`,
              )}
            </ul>`
          : ''
      }</span
    >
    ${prefill.mismatch ? mismatchBox(spec.label, prefill) : ''}
    ${error ? html`<span class="error-message" id="${id}-error">${spec.label} ${error}</span>` : ''}
    ${input(spec, value, attrs)}
  </div>`;
}

function mismatchBox(label: string, prefill: Prefill): SafeHtml {
  return html`<div class="mismatch" role="note" data-mismatch>
    <strong>The agencies disagree on the ${label.toLowerCase()}.</strong> Check the applicant’s documents and
    correct the field if needed.
    <table>
      <thead>
        <tr>
          <th scope="col">Agency</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        ${prefill.sources
          .filter((s) => s.status === 'RELEASED')
          .map(
            (s) =>
              html`<tr>
                <td><span class="badge badge-${s.agency}">${s.agency}</span> ${NDX_FIELD_LABELS[s.field]}</td>
                <td>${s.value}</td>
              </tr>`,
          )}
      </tbody>
    </table>
  </div>`;
}

function input(spec: (typeof FORM_FIELDS)[number], value: string, attrs: SafeHtml): SafeHtml {
  switch (spec.input) {
    case 'textarea':
      return html`<textarea${attrs} maxlength="500">${value}</textarea>`;
    case 'date':
      return html`<input type="date" ${attrs} value="${value}" />`;
    case 'sex':
      return html`<select${attrs}>
<option value=""${value === '' ? html` selected` : ''}>Choose…</option>
<option value="FEMALE"${value === 'FEMALE' ? html` selected` : ''}>Female</option>
<option value="MALE"${value === 'MALE' ? html` selected` : ''}>Male</option>
</select>`;
    default:
      return html`<input type="text" ${attrs} value="${value}" maxlength="200" />`;
  }
}

const PROVENANCE_TEXT = { RGD: 'from RGD', DRP: 'from DRP', OFFICER: 'entered by the officer' } as const;

/** Confirmation of a submitted application, with the provenance of every value. */
export function submittedPage(application: Application, ctx: PageContext): string {
  return layout(
    'Application submitted',
    html`<div class="notice success" role="status">
        <h1>Application submitted</h1>
        <p>
          Reference <strong class="code">${application.id}</strong>, submitted
          ${application.submittedAt ? formatTime(application.submittedAt) : ''}.
        </p>
      </div>
      <div class="card">
        <h2>Applicant</h2>
        <dl class="summary">
          <dt>NIC</dt>
          <dd class="code">${application.nic}</dd>
          ${FORM_FIELDS.map((spec) => {
            const field = application.form[spec.key];
            if (!field) return '';
            return html`<dt>${spec.label}</dt>
              <dd data-field="${spec.key}">
                ${field.value || '—'}
                <span class="badge badge-${field.provenance}">${PROVENANCE_TEXT[field.provenance]}</span>
              </dd>`;
          })}
        </dl>
      </div>
      <p><a class="button" href="/">Back to the start page</a></p>`,
    ctx,
  );
}

/** An error page that names the stable code (for support) and says what to do. */
export function errorPage(status: number, code: string, message: string, ctx: PageContext = {}): string {
  const title =
    status === 401
      ? 'Sign in first'
      : status === 404
        ? 'Not found'
        : status >= 500
          ? 'Something went wrong'
          : 'This request was refused';
  return layout(
    title,
    html`<h1>${title}</h1>
      <div class="card" data-error-code="${code}">
        <p>${message}</p>
        <p class="hint">Code <span class="code">${code}</span> · HTTP ${status}</p>
        <p><a href="/">${status === 401 ? 'Sign in' : 'Back to the start page'}</a></p>
      </div>`,
    ctx,
  );
}

function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
