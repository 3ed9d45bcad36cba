import Provider, {
  errors,
  interactionPolicy,
  type ClientAuthorizationState,
  type Configuration,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import type { JWK } from 'jose';
import { fudiPaths } from '@ndx/contract';
import type { Logger, Pool } from '@ndx/service-kit';
import { createPostgresAdapter } from './adapter.ts';
import type { CitizenStore } from './citizens.ts';
import { OIDC_SCOPES, type ClientStore } from './clients.ts';
import { errorPage, logoutPage, messagePage, PAGE_HEADERS } from './pages.ts';

export interface TokenLifetimes {
  accessTokenSeconds: number;
  idTokenSeconds: number;
  refreshTokenSeconds: number;
  sessionSeconds: number;
}

export const defaultLifetimes: TokenLifetimes = {
  accessTokenSeconds: 600,
  idTokenSeconds: 3600,
  refreshTokenSeconds: 14 * 24 * 3600,
  sessionSeconds: 8 * 3600,
};

export interface ProviderOptions {
  issuer: string;
  pool: Pool;
  clients: ClientStore;
  citizens: CitizenStore;
  /** Private signing JWKs, the active one first. */
  keys: JWK[];
  cookieKeys: string[];
  lifetimes: TokenLifetimes;
  logger: Logger;
}

const OIDC_SCOPE_SET = new Set<string>(OIDC_SCOPES);

type ClientLike = { metadata(): Record<string, unknown> };

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Resource indicators (audiences) the client is registered for. */
function allowedResources(client: ClientLike): string[] {
  return stringList(client.metadata().allowed_resources);
}

/** Scopes the client may get in tokens for its resources (e.g. `admin`). */
function resourceScopes(client: ClientLike): string {
  return stringList(client.metadata().allowed_scopes).join(' ');
}

function setPageHeaders(ctx: KoaContextWithOIDC): void {
  for (const [name, value] of Object.entries(PAGE_HEADERS)) ctx.set(name, value);
}

/**
 * oidc-provider's prompts, with one more reason to ask for the password: a FUDI session signs a person
 * in to the clients they signed in at, never silently to another one. A counter device is shared (a
 * DIE officer signs in to the passport app, then hands it to the applicant for the consent portal):
 * single sign-on across clients would sign the applicant in to the portal as the officer. Signing in
 * there as someone else replaces the session (oidc-provider ends the old one first).
 */
function signInPolicy(): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(
      'client_not_signed_in',
      'End-User authentication is required for this client',
      (ctx) => {
        const { oidc } = ctx;
        if (!oidc.session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        // oidc-provider gives every client a container (and a grant) before it asks the prompts, so the
        // session keeps its own mark: set here when the person has just signed in for this client.
        const container = oidc.session.authorizationFor(oidc.client!.clientId) as ClientSignIn;
        if (oidc.result?.login) {
          container.signedIn = true;
          return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        }
        return container.signedIn === true
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : interactionPolicy.Check.REQUEST_PROMPT;
      },
    ),
  );
  return policy;
}

/** A client's part of a FUDI session, with the mark that the person signed in for that client. */
type ClientSignIn = ClientAuthorizationState & { signedIn?: boolean };

/** Builds FUDI's oidc-provider instance (not listening; its `callback()` is mounted in Fastify). */
export function createProvider(options: ProviderOptions): Provider {
  const { lifetimes } = options;
  const activeKid = options.keys[0]?.kid;
  const configuration: Configuration = {
    adapter: createPostgresAdapter(options.pool, options.clients),
    clients: [],
    jwks: { keys: options.keys },
    cookies: { keys: options.cookieKeys },
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      iss: null,
      sid: null,
      openid: ['sub'],
      profile: ['name'],
      roles: ['roles'],
    },
    scopes: [...OIDC_SCOPES],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    extraClientMetadata: {
      properties: ['allowed_resources', 'allowed_scopes'],
      validator(_ctx, key, value) {
        if (value !== undefined && (!Array.isArray(value) || value.some((v) => typeof v !== 'string')))
          throw new errors.InvalidClientMetadata(`${key} must be an array of strings`);
      },
    },
    async findAccount(_ctx, sub) {
      const citizen = await options.citizens.find(sub);
      if (!citizen) return undefined;
      return {
        accountId: citizen.nic,
        claims: () => ({ sub: citizen.nic, name: citizen.name, roles: citizen.roles }),
      };
    },
    // The endpoints' paths are the exchange's vocabulary (the gateway routes them; @ndx/contract).
    routes: {
      authorization: fudiPaths.authorization,
      jwks: fudiPaths.jwks,
      token: fudiPaths.token,
      userinfo: fudiPaths.userinfo,
      end_session: fudiPaths.endSession,
    },
    interactions: {
      url: (_ctx, interaction) => fudiPaths.interaction.replace(':uid', interaction.uid),
      policy: signInPolicy(),
    },
    pkce: { required: () => true },
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // Every client is first-party (registered by operators); the citizen's data-sharing consent is
    // the Consent Engine's job, so FUDI grants what a registered client asks for after sign-in.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const accountId = oidc.session?.accountId;
      if (!accountId || !oidc.client) return undefined;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(oidc.client.clientId);
      const grant =
        (grantId ? await oidc.provider.Grant.find(grantId) : undefined) ??
        new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId });
      if (grant.accountId !== accountId) return undefined;
      const requested = String(oidc.params?.scope ?? '')
        .split(' ')
        .filter((s) => OIDC_SCOPE_SET.has(s));
      grant.addOIDCScope(requested.join(' '));
      grant.addOIDCClaims(['amr', 'acr', 'auth_time']);
      const resource = oidc.params?.resource;
      for (const indicator of Array.isArray(resource) ? resource : resource ? [String(resource)] : []) {
        if (allowedResources(oidc.client).includes(indicator))
          grant.addResourceScope(indicator, resourceScopes(oidc.client));
      }
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect its own tokens only.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        // A client may revoke its own tokens only.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          setPageHeaders(ctx);
          ctx.body = logoutPage(form, ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId);
        },
        async postLogoutSuccessSource(ctx) {
          setPageHeaders(ctx);
          ctx.body = messagePage('Signed out', 'You are signed out of FUDI.');
        },
      },
      resourceIndicators: {
        enabled: true,
        // A client with exactly one resource gets tokens for it when it names none.
        async defaultResource(_ctx, client, oneOf) {
          if (oneOf) return oneOf;
          const resources = client ? allowedResources(client) : [];
          return resources.length === 1 ? resources[0]! : (undefined as unknown as string);
        },
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(_ctx, resourceIndicator, client) {
          if (!allowedResources(client).includes(resourceIndicator)) {
            throw new errors.InvalidTarget(`client may not get tokens for ${resourceIndicator}`);
          }
          return {
            audience: resourceIndicator,
            scope: resourceScopes(client),
            accessTokenFormat: 'jwt',
            accessTokenTTL: lifetimes.accessTokenSeconds,
            jwt: { sign: { alg: 'RS256', ...(activeKid ? { kid: activeKid } : {}) } },
          };
        },
      },
    },
    ttl: {
      AccessToken: lifetimes.accessTokenSeconds,
      ClientCredentials: lifetimes.accessTokenSeconds,
      AuthorizationCode: 60,
      IdToken: lifetimes.idTokenSeconds,
      RefreshToken: lifetimes.refreshTokenSeconds,
      Interaction: 600,
      Session: lifetimes.sessionSeconds,
      Grant: lifetimes.refreshTokenSeconds,
    },
    async renderError(ctx, out) {
      setPageHeaders(ctx);
      ctx.body = errorPage(out as unknown as Record<string, unknown>);
    },
  };
  const provider = new Provider(options.issuer, configuration);
  provider.proxy = true;
  provider.on('server_error', (_ctx, err) => options.logger.error({ err }, 'oidc-provider server error'));
  return provider;
}
