/** A client-credentials access token from the FUDI at fudiUrl (OAuth 2.0 token endpoint, client secret basic). */
export async function clientCredentialsToken(
  fudiUrl: string,
  client: { id: string; secret: string },
  resource: string,
  scope?: string,
): Promise<string> {
  const response = await fetch(`${fudiUrl}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, ...(scope ? { scope } : {}) }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await response.json()) as { access_token?: string; error?: string };
  if (!body.access_token) throw new Error(`no token for ${client.id}: ${response.status} ${body.error}`);
  return body.access_token;
}
