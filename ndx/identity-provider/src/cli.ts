import { parseArgs } from 'node:util';
import { createLogger, createPool, migrate, type Pool } from '@ndx/service-kit';
import { migrationsDir } from './app.ts';
import { createCitizenStore } from './citizens.ts';
import { createClientStore } from './clients.ts';
import { createSigningKeyStore } from './signing-keys.ts';

const HELP = `FUDI operator CLI. Needs DATABASE_URL (the ndx_identity database).

  node src/cli.ts add-client --id ID --resource URN [--resource URN ...] [--scope S ...] [--name NAME]
        a confidential client_credentials consumer app; prints its client id and secret ONCE
  node src/cli.ts add-client --id ID --redirect-uri URL [--public] [--resource URN ...] [--name NAME]
        a sign-in (authorization code + PKCE) client; confidential unless --public
  node src/cli.ts reset-client-secret --id ID      prints a new secret ONCE (the old one stops working)
  node src/cli.ts list-clients
  node src/cli.ts set-citizen --nic NIC --name NAME [--totp-secret BASE32] [--role ROLE ...] [--clear-roles]
        creates or resets an account; the password is read from FUDI_CITIZEN_PASSWORD. --role (repeat
        it) replaces the account's roles, released in the roles claim (e.g. die-officer); --clear-roles
        removes them; without either they stay as they are
  node src/cli.ts rotate-keys [--publish-seconds N]
        a new signing key, published at once and signing after N seconds (default 900, longer than
        verifiers cache the JWKS); the old key signs until then and stays published 24 h after
  node src/cli.ts list-keys

A running FUDI picks up new clients at once and rotated keys within FUDI_KEY_REFRESH_SECONDS (60 s).`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      id: { type: 'string' },
      name: { type: 'string' },
      resource: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean', default: false },
      nic: { type: 'string' },
      'totp-secret': { type: 'string' },
      role: { type: 'string', multiple: true },
      'clear-roles': { type: 'boolean', default: false },
      'publish-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(HELP);
    return command ? 0 : 2;
  }
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required (the ndx_identity database)');
  const pool: Pool = createPool(databaseUrl, createLogger('identity-provider-cli', { level: 'warn' }), {
    max: 2,
  });
  try {
    await migrate(pool, migrationsDir);
    const clients = createClientStore(pool);
    const need = (value: string | undefined, flag: string): string => {
      if (!value) throw new Error(`${command} needs --${flag}`);
      return value;
    };
    switch (command) {
      case 'add-client': {
        const redirectUris = values['redirect-uri'] ?? [];
        const added = await clients.addOperatorClient({
          clientId: need(values.id, 'id'),
          name: values.name,
          public: values.public,
          resources: values.resource ?? [],
          scopes: values.scope ?? [],
          redirectUris,
          postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
          grantTypes:
            redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials'],
        });
        console.log(`client_id=${added.clientId}`);
        if (added.clientSecret) {
          console.log(`client_secret=${added.clientSecret}`);
          console.log('Store the secret now: FUDI shows it only once.');
        }
        return 0;
      }
      case 'reset-client-secret': {
        const secret = await clients.resetSecret(need(values.id, 'id'));
        console.log(`client_id=${values.id}\nclient_secret=${secret}`);
        console.log('Store the secret now: FUDI shows it only once.');
        return 0;
      }
      case 'list-clients': {
        for (const c of await clients.list()) {
          console.log(
            `${c.clientId.padEnd(24)} ${c.source.padEnd(8)} ${c.grantTypes.join(',').padEnd(36)} ${c.resources.join(' ')}${c.scopes.length ? ` scopes=${c.scopes.join(' ')}` : ''}`,
          );
        }
        return 0;
      }
      case 'set-citizen': {
        const password = process.env.FUDI_CITIZEN_PASSWORD;
        if (!password)
          throw new Error('set FUDI_CITIZEN_PASSWORD to the new password (kept out of shell history and ps)');
        const nic = need(values.nic, 'nic');
        if (values['clear-roles'] && values.role) throw new Error('give --role or --clear-roles, not both');
        const roles = values['clear-roles'] ? [] : values.role;
        await createCitizenStore(pool).upsert({
          nic,
          name: need(values.name, 'name'),
          password,
          totpSecret: values['totp-secret'],
          roles,
        });
        console.log(
          `citizen ${nic} saved${values['totp-secret'] ? ' (TOTP enabled)' : ''}` +
            (roles ? `; roles: ${roles.length ? roles.join(', ') : 'none'}` : ''),
        );
        return 0;
      }
      case 'rotate-keys': {
        const publish = values['publish-seconds'];
        const seconds = publish === undefined ? undefined : Number(publish);
        if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 0)) {
          throw new Error('--publish-seconds must be a whole number of seconds');
        }
        const { kid, activatesAt } = await createSigningKeyStore(pool).rotate(seconds);
        console.log(
          `new signing key ${kid}\npublished now; it signs from ${activatesAt.toISOString()}\n` +
            'the previous key signs until then and stays in the JWKS for 24 hours after',
        );
        return 0;
      }
      case 'list-keys': {
        for (const k of await createSigningKeyStore(pool).list()) {
          console.log(
            `${k.kid}  signs from ${k.activatesAt.toISOString()}  ${k.retiredAt ? `until ${k.retiredAt.toISOString()}` : ''}`,
          );
        }
        return 0;
      }
      default:
        console.error(`unknown command ${command}\n\n${HELP}`);
        return 2;
    }
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`fudi: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
