import { browse, CookieJar, csrfOf, submitFudiLogin } from '@ndx/identity-provider/testing-browser';

export interface PortalDecision {
  status: string;
  consentId: string;
  state: string;
}

/**
 * Does what a citizen does with a consent portal URL from a CONSENT_REQUIRED error: opens it with the
 * consumer's redirect_uri and a state, signs in on FUDI's real login page, and approves all fields, a
 * chosen subset (values `providerKey/schemaId/field`), or denies. Returns where the portal sent the browser.
 */
export async function decideInPortal(options: {
  consentPortalUrl: string;
  redirectUri: string;
  nic: string;
  password: string;
  decision: 'approve-all' | 'deny' | { approve: string[] };
  state?: string;
  /** The browser's cookies (FUDI's and the portal's sessions); a fresh jar unless given. */
  jar?: CookieJar;
}): Promise<PortalDecision> {
  const state = options.state ?? `s-${Math.random().toString(36).slice(2)}`;
  const jar = options.jar ?? new CookieJar();
  const stopAt = (url: string) => url.startsWith(options.redirectUri);
  const entry = `${options.consentPortalUrl}?redirect_uri=${encodeURIComponent(options.redirectUri)}&state=${state}`;
  const login = await browse(jar, entry, { stopAt });
  const page = await submitFudiLogin(jar, login, options.nic, options.password, stopAt);
  if (page.status !== 200)
    throw new Error(`consent page answered ${page.status}: ${page.text.slice(0, 300)}`);
  const action = new URL(options.consentPortalUrl);
  const form: Record<string, string | string[]> = {
    csrf: csrfOf(page.text),
    redirect_uri: options.redirectUri,
    state,
    ...(options.decision === 'approve-all'
      ? { action: 'approve-all' }
      : options.decision === 'deny'
        ? { action: 'deny' }
        : { action: 'approve-selected', field: options.decision.approve }),
  };
  const landing = await browse(jar, `${action.origin}${action.pathname}/decision`, {
    method: 'POST',
    form,
    stopAt,
  });
  if (!landing.stoppedAt)
    throw new Error(
      `the portal did not redirect back (HTTP ${landing.status}): ${landing.text.slice(0, 300)}`,
    );
  const back = new URL(landing.stoppedAt);
  return {
    status: back.searchParams.get('status') ?? '',
    consentId: back.searchParams.get('consent_id') ?? '',
    state: back.searchParams.get('state') ?? '',
  };
}

/**
 * Asks the stack's OE for the citizen's passport record with the app's token and, at its CONSENT_REQUIRED, approves
 * every field in the portal as the citizen: afterwards the same query is released.
 */
export async function approvePassportQuery(options: {
  oeUrl: string;
  passportAppUrl: string;
  token: string;
  query: string;
  citizen: { nic: string; password: string };
}): Promise<PortalDecision> {
  const first = await fetch(`${options.oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
    body: JSON.stringify({ query: options.query, variables: { nic: options.citizen.nic } }),
  });
  const body = (await first.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
  const pending = body.errors?.find((e) => e.extensions?.['code'] === 'CONSENT_REQUIRED');
  if (!pending) throw new Error(`no CONSENT_REQUIRED for ${options.citizen.nic}: ${JSON.stringify(body)}`);
  return decideInPortal({
    consentPortalUrl: pending.extensions!['consentPortalUrl'] as string,
    redirectUri: `${options.passportAppUrl}/consent/return`,
    nic: options.citizen.nic,
    password: options.citizen.password,
    decision: 'approve-all',
  });
}
