// The paths NDX serves to the public (consumer apps and citizens' browsers), which the API gateway (apisix/)
// routes to the service that serves them. Each service registers its routes from these, and the gateway's
// test (tests/apisix-config.test.ts) checks apisix/apisix.yaml against them.

/** The Orchestration Engine's API. */
export const ndxApiPaths = {
  /** POST: one GraphQL operation (POST only: a GET would put NICs in URLs). */
  graphql: '/graphql',
} as const;

/** The consent portal's pages, served by the Consent Engine (Fastify route patterns). */
export const consentPortalPaths = {
  /** GET: one consent request (the `consentPortalUrl` the OE hands a consumer). */
  consent: '/consent/:id',
  /** POST: the citizen approves or denies it. */
  decision: '/consent/:id/decision',
  /** GET: the signed-in citizen's consents. */
  mine: '/consent/mine',
  /** GET: every access to the citizen's data (from the audit log). */
  access: '/consent/mine/access',
  /** POST: the citizen revokes one of their consents. */
  revoke: '/consent/mine/:id/revoke',
  /** GET: FUDI redirects here after sign-in (authorization code + PKCE). */
  signInCallback: '/auth/callback',
  /** POST: sign out of the portal. */
  signOut: '/auth/logout',
} as const;

/** FUDI's OpenID Connect endpoints (oidc-provider `routes`), and where its sign-in pages live. */
export const fudiPaths = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/jwks',
  authorization: '/auth',
  token: '/token',
  userinfo: '/me',
  endSession: '/session/end',
  /** Sign-in pages of one interaction (`/interaction/:uid`, `/interaction/:uid/login`, …). */
  interaction: '/interaction/:uid',
} as const;
