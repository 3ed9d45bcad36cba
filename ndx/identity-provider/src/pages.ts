/** Server-rendered, accessible HTML for FUDI's sign-in, sign-out and error pages (no scripts). */

import { fudiPaths } from '@ndx/contract';
import { escapeHtml } from '@ndx/service-kit';

export { escapeHtml };

/** Where one sign-in interaction's pages and forms live (escaped for an attribute). */
const interactionPath = (uid: string) => escapeHtml(fudiPaths.interaction.replace(':uid', uid));

/** Security headers for every page FUDI renders itself. */
export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1b1f24;line-height:1.5}
header{background:#0b3d63;color:#fff;padding:.75rem 1rem}header p{margin:0;font-weight:600}
main{max-width:26rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin-top:1rem}
input{width:100%;box-sizing:border-box;font-size:1.1rem;padding:.6rem;border:2px solid #5a6570;border-radius:4px}
input:focus,button:focus,a:focus{outline:3px solid #f5a623;outline-offset:2px}
button{margin-top:1.25rem;width:100%;font-size:1.1rem;padding:.7rem;border:0;border-radius:4px;background:#0b5fa5;color:#fff;cursor:pointer}
button.secondary{background:#e3e7eb;color:#1b1f24}
.error{border-left:4px solid #b00020;background:#fdecee;padding:.6rem .8rem;margin:1rem 0}
.hint{color:#4a545e;font-size:.95rem}a{color:#0b5fa5}`;

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · FUDI</title>
<style>${STYLE}</style>
</head>
<body>
<header><p>FUDI · Farajaland national digital identity</p></header>
<main>
${body}
</main>
</body>
</html>`;
}

function errorBlock(error: string | undefined): string {
  return error ? `<div class="error" role="alert" id="form-error">${escapeHtml(error)}</div>` : '';
}

export function loginPage(options: {
  uid: string;
  clientName: string;
  nic?: string;
  error?: string;
}): string {
  const describedBy = options.error ? ' aria-describedby="form-error"' : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>
<p class="hint">to continue to ${escapeHtml(options.clientName)}</p>
${errorBlock(options.error)}
<form method="post" action="${interactionPath(options.uid)}/login" novalidate>
<label for="nic">National identity card number (NIC)</label>
<input id="nic" name="nic" type="text" autocomplete="username" autocapitalize="characters" spellcheck="false" required value="${escapeHtml(options.nic ?? '')}"${describedBy}${options.error ? '' : ' autofocus'}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${describedBy}${options.error ? ' autofocus' : ''}>
<button type="submit">Sign in</button>
</form>
<form method="get" action="${interactionPath(options.uid)}/abort">
<button type="submit" class="secondary">Cancel</button>
</form>`,
  );
}

export function totpPage(options: { uid: string; error?: string }): string {
  const describedBy = options.error ? 'form-error totp-hint' : 'totp-hint';
  return page(
    'Enter your one-time code',
    `<h1>Enter your one-time code</h1>
${errorBlock(options.error)}
<form method="post" action="${interactionPath(options.uid)}/totp" novalidate>
<label for="code">6-digit code from your authenticator app</label>
<p class="hint" id="totp-hint">The code changes every 30 seconds.</p>
<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required autofocus aria-describedby="${describedBy}">
<button type="submit">Continue</button>
</form>
<form method="get" action="${interactionPath(options.uid)}/abort">
<button type="submit" class="secondary">Cancel</button>
</form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>`);
}

/** oidc-provider's sign-out confirmation; `form` is its hidden form (with the xsrf token). */
export function logoutPage(form: string, clientName: string | undefined): string {
  return page(
    'Sign out',
    `<h1>Sign out of FUDI?</h1>
<p>${clientName ? `${escapeHtml(clientName)} asked to sign you out.` : 'You asked to sign out.'}</p>
${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
  );
}

export function errorPage(out: Record<string, unknown>): string {
  const description =
    typeof out.error_description === 'string' ? out.error_description : 'The request could not be completed.';
  return page(
    'Something went wrong',
    `<h1>Something went wrong</h1>
<div class="error" role="alert"><p>${escapeHtml(description)}</p><p class="hint">Error code: ${escapeHtml(out.error ?? 'server_error')}</p></div>
<p>Go back to the service you came from and try again.</p>`,
  );
}
