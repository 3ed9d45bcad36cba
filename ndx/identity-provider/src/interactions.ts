import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { z } from 'zod';
import { fudiPaths, tidyNicInput } from '@ndx/contract';
import type { Logger } from '@ndx/service-kit';
import type { CitizenStore } from './citizens.ts';
import type { LoginThrottle } from './throttle.ts';
import { loginPage, messagePage, PAGE_HEADERS, totpPage } from './pages.ts';

/** One message for every failed password step, so it never tells whether a NIC exists. */
export const SIGN_IN_FAILED = 'The NIC or password is not correct.';
export const TOTP_FAILED = 'That code is not correct. Check the time on your device and try again.';
export const LOCKED_OUT = 'Too many failed attempts. Wait 15 minutes and try again.';

const loginForm = z.object({
  nic: z.string().max(64).default(''),
  password: z.string().max(1024).default(''),
});
const totpForm = z.object({ code: z.string().max(16).default('') });

/** A password that was right, waiting for its TOTP code; kept in the interaction's result. */
interface PendingTotp {
  nic: string;
  at: number;
}

export interface InteractionDeps {
  provider: () => Provider;
  citizens: CitizenStore;
  throttle: LoginThrottle;
  logger: Logger;
}

function send(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.status(status).headers(PAGE_HEADERS).send(html);
}

/** FUDI's own sign-in pages: NIC + password, then a TOTP code for accounts that have one. */
export async function interactionRoutes(app: FastifyInstance, deps: InteractionDeps): Promise<void> {
  await app.register(formbody, { bodyLimit: 8_192 });

  const details = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const found = await deps.provider().interactionDetails(request.raw, reply.raw);
      const { uid } = request.params as { uid: string };
      if (found.uid !== uid) return undefined;
      return found;
    } catch {
      return undefined;
    }
  };

  const expired = (reply: FastifyReply) =>
    send(
      reply,
      400,
      messagePage(
        'This sign-in has expired',
        'Go back to the service you came from and start signing in again.',
      ),
    );

  const clientName = async (clientId: unknown) => {
    const client = typeof clientId === 'string' ? await deps.provider().Client.find(clientId) : undefined;
    return client?.clientName ?? client?.clientId ?? 'the service';
  };

  const finish = async (request: FastifyRequest, reply: FastifyReply, result: InteractionResults) => {
    const url = await deps.provider().interactionResult(request.raw, reply.raw, result, {
      mergeWithLastSubmission: false,
    });
    return reply.redirect(url, 303);
  };

  const pendingOf = (result: unknown): PendingTotp | undefined => {
    const pending = (result as { ndxPendingTotp?: PendingTotp } | undefined)?.ndxPendingTotp;
    return pending && Date.now() - pending.at < 5 * 60_000 ? pending : undefined;
  };

  app.get(fudiPaths.interaction, async (request, reply) => {
    const interaction = await details(request, reply);
    if (!interaction) return expired(reply);
    if (interaction.prompt.name !== 'login') {
      // Consent for first-party clients is granted in loadExistingGrant; finish any other prompt.
      return finish(request, reply, {});
    }
    const { uid } = interaction;
    if (pendingOf(interaction.result)) return send(reply, 200, totpPage({ uid }));
    return send(reply, 200, loginPage({ uid, clientName: await clientName(interaction.params.client_id) }));
  });

  app.post(`${fudiPaths.interaction}/login`, async (request, reply) => {
    const interaction = await details(request, reply);
    if (!interaction) return expired(reply);
    const form = loginForm.safeParse(request.body ?? {});
    const nic = tidyNicInput(form.success ? form.data.nic : '');
    const password = form.success ? form.data.password : '';
    const name = await clientName(interaction.params.client_id);
    const again = (status: number, error: string) =>
      send(reply, status, loginPage({ uid: interaction.uid, clientName: name, nic, error }));

    if (await deps.throttle.isBlocked(nic, request.ip)) {
      deps.logger.warn({ event: 'sign_in_locked' }, 'sign-in refused: too many failures');
      return again(429, LOCKED_OUT);
    }
    const citizen = nic && password ? await deps.citizens.checkPassword(nic, password) : undefined;
    if (!citizen) {
      await deps.throttle.recordFailure(nic, request.ip);
      deps.logger.info({ event: 'sign_in_failed' }, 'sign-in failed: wrong NIC or password');
      return again(401, SIGN_IN_FAILED);
    }
    if (citizen.hasTotp) {
      interaction.result = { ndxPendingTotp: { nic: citizen.nic, at: Date.now() } satisfies PendingTotp };
      await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
      return send(reply, 200, totpPage({ uid: interaction.uid }));
    }
    await deps.throttle.clear(citizen.nic);
    return finish(request, reply, {
      login: { accountId: citizen.nic, amr: ['pwd'], acr: 'urn:ndx:loa:password' },
    });
  });

  app.post(`${fudiPaths.interaction}/totp`, async (request, reply) => {
    const interaction = await details(request, reply);
    if (!interaction) return expired(reply);
    const pending = pendingOf(interaction.result);
    if (!pending) return expired(reply);
    const form = totpForm.safeParse(request.body ?? {});
    const code = (form.success ? form.data.code : '').replace(/\s+/g, '');
    if (await deps.throttle.isBlocked(pending.nic, request.ip)) {
      return send(reply, 429, totpPage({ uid: interaction.uid, error: LOCKED_OUT }));
    }
    if (!(await deps.citizens.checkTotp(pending.nic, code))) {
      await deps.throttle.recordFailure(pending.nic, request.ip);
      deps.logger.info({ event: 'totp_failed' }, 'sign-in failed: wrong one-time code');
      return send(reply, 401, totpPage({ uid: interaction.uid, error: TOTP_FAILED }));
    }
    await deps.throttle.clear(pending.nic);
    return finish(request, reply, {
      login: { accountId: pending.nic, amr: ['pwd', 'otp'], acr: 'urn:ndx:loa:two-factor' },
    });
  });

  app.get(`${fudiPaths.interaction}/abort`, async (request, reply) => {
    const interaction = await details(request, reply);
    if (!interaction) return expired(reply);
    return finish(request, reply, {
      error: 'access_denied',
      error_description: 'The citizen cancelled signing in.',
    });
  });
}
