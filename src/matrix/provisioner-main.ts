import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Logger } from '../observability/logger.ts';
import { DEFAULT_ROOMS, provision } from './provisioner.ts';
import { PARTICIPANT_ROLES } from './room-power-levels.ts';

/**
 * The `provisioner` entrypoint, run by the per-channel Job: reads what the Job mounts (passwords only as files of a
 * projected Secret volume, never env) and provisions Synapse idempotently. Its contract is PROVISIONER_ENV in
 * src/controllers/incidentchannel/desired/provisioner-job.ts. Prints a summary without any secret.
 */
const Env = z.object({
  WARROOM_HOMESERVER_URL: z.url(),
  WARROOM_SERVER_NAME: z.string().min(1),
  WARROOM_ADMIN_HANDLE: z.string().min(1),
  WARROOM_RECORDER_HANDLE: z.string().min(1),
  WARROOM_RECORDER_JOINS_ITSELF: z.enum(['true', 'false']).default('false'),
  WARROOM_PARTICIPANTS: z.string().transform((s, ctx) => {
    const parsed = z
      .array(z.object({ handle: z.string().min(1), role: z.enum(PARTICIPANT_ROLES), passwordFile: z.string().min(1) }))
      .safeParse(JSON.parse(s));
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `WARROOM_PARTICIPANTS: ${parsed.error.issues[0]?.message}` });
      return z.NEVER;
    }
    return parsed.data;
  }),
  WARROOM_ROOMS: z
    .string()
    .optional()
    .transform((s) =>
      s
        ? z.array(z.object({ alias: z.string(), name: z.string(), topic: z.string().optional() })).parse(JSON.parse(s))
        : undefined,
    ),
  WARROOM_REGISTRATION_SHARED_SECRET_FILE: z.string().min(1),
  WARROOM_ADMIN_PASSWORD_FILE: z.string().min(1),
  WARROOM_RECORDER_PASSWORD_FILE: z.string().min(1),
});

/** Secret files end with whatever newline the Secret carried; Synapse strips its own copy the same way. */
const readSecret = async (path: string) => {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
};

/** The Job starts together with Synapse, which may still be starting (or migrating its database) for minutes. */
const HOMESERVER_WAIT_MS = 15 * 60_000;

/**
 * Waits, bounded, until the homeserver answers /health. Without it the Job's first pod met a Synapse that was not up
 * yet (connection refused) and failed, and the channel waited out the Job's back-off (seen on a real node).
 */
async function waitForHomeserver(baseUrl: string, log: Logger, waitMs = HOMESERVER_WAIT_MS): Promise<void> {
  const url = `${baseUrl.replace(/\/+$/, '')}/health`;
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the homeserver did not answer ${url} within ${waitMs / 1000} s`);
    if (!told) {
      log.info({ url }, 'waiting for the homeserver to answer /health');
      told = true;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export async function runProvisioner(env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `provisioner configuration: ${parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ')}`,
    );
  }
  const e = parsed.data;
  const participants = await Promise.all(
    e.WARROOM_PARTICIPANTS.map(async (p) => ({
      handle: p.handle,
      role: p.role,
      password: await readSecret(p.passwordFile),
    })),
  );
  await waitForHomeserver(e.WARROOM_HOMESERVER_URL, log);
  const started = performance.now();
  const summary = await provision({
    baseUrl: e.WARROOM_HOMESERVER_URL,
    serverName: e.WARROOM_SERVER_NAME,
    registrationSharedSecret: await readSecret(e.WARROOM_REGISTRATION_SHARED_SECRET_FILE),
    adminBot: { handle: e.WARROOM_ADMIN_HANDLE, password: await readSecret(e.WARROOM_ADMIN_PASSWORD_FILE) },
    recorder: { handle: e.WARROOM_RECORDER_HANDLE, password: await readSecret(e.WARROOM_RECORDER_PASSWORD_FILE) },
    participants,
    rooms: e.WARROOM_ROOMS ?? DEFAULT_ROOMS,
    // The sidecar joins by itself; the Job waits for it (bounded) and never joins a device-less recorder for it.
    recorderJoinsItself: e.WARROOM_RECORDER_JOINS_ITSELF === 'true',
    recorderJoinTimeoutMs: 10 * 60_000,
    logger: log,
  });
  log.info(
    {
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      participants: summary.participants.map((p) => ({ userId: p.userId, role: p.role, account: p.account })),
      deactivated: summary.deactivated,
      rooms: summary.rooms.map((r) => ({ alias: r.alias, roomId: r.roomId, created: r.created })),
    },
    'provisioning complete',
  );
}
