import * as client from 'openid-client';

/** A sign-in in progress, kept in the browser's session until FUDI sends the browser back. */
export interface PendingLogin {
  codeVerifier: string;
  state: string;
  nonce: string;
  /** The app path to go to afterwards (checked by {@link safeReturnPath}). */
  returnTo: string;
}

/** What the ID token says about the person who signed in. */
export interface SignedInIdentity {
  subject: string;
  name?: string | undefined;
  /** The `roles` claim as FUDI sent it (not yet interpreted). */
  roles: unknown;
  idToken: string;
}

export interface FudiSignInOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** `${PASSPORT_APP_PUBLIC_URL}/auth/callback`, registered with FUDI. */
  redirectUri: string;
  /** Where FUDI sends the browser after signing out (`${PASSPORT_APP_PUBLIC_URL}/`), registered with FUDI. */
  postLogoutRedirectUri: string;
  timeoutMs: number;
}

export interface FudiSignIn {
  /** Where to send the browser to sign in (FUDI always asks for the password: a counter device is shared). */
  authorizationUrl(login: PendingLogin): Promise<URL>;
  /** Redeems the callback's code, checking state, nonce and PKCE. */
  finishSignIn(callbackUrl: URL, login: PendingLogin): Promise<SignedInIdentity>;
  /** FUDI's sign-out page for this ID token (RP-initiated logout). */
  endSessionUrl(idToken: string): Promise<URL>;
}

/**
 * The passport app's OIDC client for its users (openid-client 6, authorization code + PKCE, the
 * app's confidential client with client_secret_basic). FUDI's metadata is discovered on first use
 * and kept; a failed discovery is retried on the next sign-in.
 */
export function createFudiSignIn(options: FudiSignInOptions): FudiSignIn {
  let configuration: Promise<client.Configuration> | undefined;
  const config = () => {
    configuration ??= client
      .discovery(
        new URL(options.issuer),
        options.clientId,
        undefined,
        client.ClientSecretBasic(options.clientSecret),
        {
          timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
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
        scope: 'openid profile roles',
        response_type: 'code',
        prompt: 'login',
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
      const claims = tokens.claims();
      if (!claims?.sub || !tokens.id_token) throw new Error('the ID token has no subject');
      return {
        subject: claims.sub,
        name: typeof claims['name'] === 'string' ? claims['name'] : undefined,
        roles: claims['roles'],
        idToken: tokens.id_token,
      };
    },
    endSessionUrl: async (idToken) =>
      client.buildEndSessionUrl(await config(), {
        id_token_hint: idToken,
        post_logout_redirect_uri: options.postLogoutRedirectUri,
      }),
  };
}

/** A new sign-in: fresh PKCE verifier, state and nonce. */
export const newLogin = (returnTo: string): PendingLogin => ({
  codeVerifier: client.randomPKCECodeVerifier(),
  state: client.randomState(),
  nonce: client.randomNonce(),
  returnTo: safeReturnPath(returnTo),
});

/** A path on this app to return to after sign-in; anything else (another site, `//host`) becomes `/`. */
export function safeReturnPath(path: unknown): string {
  if (typeof path !== 'string' || path.length > 300) return '/';
  return /^\/(?![/\\])[A-Za-z0-9/_\-.?=&%]*$/.test(path) ? path : '/';
}
