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
  const started = performance.now();
  const summary = await provision({
    baseUrl: e.WARROOM_HOMESERVER_URL,
    serverName: e.WARROOM_SERVER_NAME,
    registrationSharedSecret: await readSecret(e.WARROOM_REGISTRATION_SHARED_SECRET_FILE),
    adminBot: { handle: e.WARROOM_ADMIN_HANDLE, password: await readSecret(e.WARROOM_ADMIN_PASSWORD_FILE) },
    recorder: { handle: e.WARROOM_RECORDER_HANDLE, password: await readSecret(e.WARROOM_RECORDER_PASSWORD_FILE) },
    participants,
    rooms: e.WARROOM_ROOMS ?? DEFAULT_ROOMS,
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
