// FUDI's operator API (FUDI token for its own audience `urn:ndx:identity`, admin scope): the paths both
// FUDI and the operators' command line (ndx consumer …) use.

/** Where each operation lives, relative to FUDI's issuer URL. */
export const identityAdminPaths = {
  /** GET: every client; POST: add a client-credentials client (its secret answered once). */
  clients: '/admin/v1/clients',
  /** POST, no body: the client gets no more tokens. */
  disable: (clientId: string): string => `/admin/v1/clients/${encodeURIComponent(clientId)}/disable`,
  /** The pattern FUDI registers for `disable`. */
  disableRoute: '/admin/v1/clients/:clientId/disable',
} as const;

/** The audience of FUDI tokens for FUDI's own operator API. */
export const IDENTITY_ADMIN_AUDIENCE = 'urn:ndx:identity';
