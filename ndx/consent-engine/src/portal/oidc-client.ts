import * as client from 'openid-client';

export interface PortalOidcOptions {
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE only). */
  clientSecret?: string | undefined;
  clientAuth: 'client_secret_basic' | 'client_secret_post';
  redirectUri: string;
}

export interface PortalOidc {
  /** Where to send the browser to sign in. */
  authorizationUrl(login: { codeVerifier: string; state: string; nonce: string }): Promise<URL>;
  /** Redeems the callback's code (checking state, nonce, PKCE); returns the citizen's NIC (`sub`). */
  finishSignIn(
    callbackUrl: URL,
    login: { codeVerifier: string; state: string; nonce: string },
  ): Promise<{ citizenId: string }>;
}

/**
 * The portal's OIDC client (openid-client 6, authorization code + PKCE). FUDI's metadata is
 * discovered on first use and kept; a failed discovery is retried on the next sign-in.
 */
export function createPortalOidc(options: PortalOidcOptions): PortalOidc {
  let configuration: Promise<client.Configuration> | undefined;
  const config = () => {
    configuration ??= client
      .discovery(
        new URL(options.issuer),
        options.clientId,
        undefined,
        !options.clientSecret
          ? client.None()
          : options.clientAuth === 'client_secret_post'
            ? client.ClientSecretPost(options.clientSecret)
            : client.ClientSecretBasic(options.clientSecret),
        {
          timeout: 5,
          ...(new URL(options.issuer).protocol === 'http:'
            ? { execute: [client.allowInsecureRequests] }
            : {}),
        },
      )
      .catch((err: unknown) => {
        configuration = undefined;
        throw err;
      });
    return configuration;
  };

  return {
    authorizationUrl: async (login) =>
      client.buildAuthorizationUrl(await config(), {
        redirect_uri: options.redirectUri,
        scope: 'openid',
        response_type: 'code',
        code_challenge: await client.calculatePKCECodeChallenge(login.codeVerifier),
        code_challenge_method: 'S256',
        state: login.state,
        nonce: login.nonce,
      }),
    finishSignIn: async (callbackUrl, login) => {
      const tokens = await client.authorizationCodeGrant(await config(), callbackUrl, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      const sub = tokens.claims()?.sub;
      if (!sub) throw new Error('the ID token has no subject');
      return { citizenId: sub };
    },
  };
}

export const newLogin = (returnTo: string) => ({
  codeVerifier: client.randomPKCECodeVerifier(),
  state: client.randomState(),
  nonce: client.randomNonce(),
  returnTo,
});
