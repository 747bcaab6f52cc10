import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { isLogLevel, type LogLevel } from '../observability/logger.ts';

/**
 * The recorder sidecar is configured by its environment only (the container spec in
 * src/controllers/incidentchannel/desired/recorder.ts sets exactly these). The password comes from a mounted file,
 * never from the environment.
 */
export const RECORDER_ENV = {
  /** Synapse's client listener; in the pod http://127.0.0.1:8008 (the sidecar shares Synapse's network namespace). */
  homeserverUrl: 'WARROOM_RECORDER_HOMESERVER_URL',
  /** The recorder's localpart, e.g. warroom-recorder. */
  user: 'WARROOM_RECORDER_USER',
  serverName: 'WARROOM_RECORDER_SERVER_NAME',
  passwordFile: 'WARROOM_RECORDER_PASSWORD_FILE',
  /** Its own volume: transcript, media, encrypted key vault, cursors and the device audit state. */
  dataDir: 'WARROOM_RECORDER_DATA_DIR',
  /** host:port of the HTTP API (default 0.0.0.0:9101). */
  listen: 'WARROOM_RECORDER_LISTEN',
  /**
   * Optional host:port for the control routes (POST /seal, POST /notices, GET /archive). When set, those routes are
   * served only there (so a NetworkPolicy can open it to the operator alone); otherwise on `listen`.
   */
  controlListen: 'WARROOM_RECORDER_CONTROL_LISTEN',
  /**
   * Optional host:port of the membership listener (src/recorder/membership-server.ts) the call authoriser asks "is
   * this user joined to this room"; its NetworkPolicy opens it to the authoriser alone. Unset: not served.
   */
  membershipListen: 'WARROOM_RECORDER_MEMBERSHIP_LISTEN',
  /** Alias of the room for notices, e.g. #control:inc-42.invalid. */
  controlRoom: 'WARROOM_RECORDER_CONTROL_ROOM',
  /** JSON {name, uid, caseId, namespace}: the channel, for the export manifest. */
  channel: 'WARROOM_RECORDER_CHANNEL',
  logLevel: 'WARROOM_RECORDER_LOG_LEVEL',
  /** Largest attachment downloaded, in bytes (default 100 MiB). */
  mediaMaxBytes: 'WARROOM_RECORDER_MEDIA_MAX_BYTES',
  /** How long a missing room key may still be in flight before an event is recorded as failed (default 12000). */
  decryptWaitMs: 'WARROOM_RECORDER_DECRYPT_WAIT_MS',
} as const;

export interface ChannelRef {
  name: string;
  uid: string;
  caseId: string;
  namespace: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface RecorderConfig {
  homeserverUrl: string;
  user: string;
  serverName: string;
  userId: string;
  passwordFile: string;
  dataDir: string;
  listen: HostPort;
  controlListen: HostPort | undefined;
  membershipListen: HostPort | undefined;
  controlRoom: string;
  channel: ChannelRef;
  logLevel: LogLevel;
  mediaMaxBytes: number;
  decryptWaitMs: number;
}

const LOCALPART = /^[a-z0-9._=\-/+]+$/;

const hostPort = z.string().transform((value, ctx): HostPort => {
  const match = /^(.*):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  const host = (match?.[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  if (!match || host === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected host:port, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return { host, port };
});

const jsonChannel = z.string().transform((value, ctx): ChannelRef => {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not JSON' });
    return z.NEVER;
  }
  const parsed = z
    .object({
      name: z.string().min(1),
      uid: z.string().min(1),
      caseId: z.string().min(1),
      namespace: z.string().min(1),
    })
    .safeParse(raw);
  if (!parsed.success) {
    ctx.addIssue({
      code: 'custom',
      message: `expected {name, uid, caseId, namespace}: ${parsed.error.issues[0]?.message}`,
    });
    return z.NEVER;
  }
  return parsed.data;
});

const positiveInt = (fallback: number, max: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer in 1..${max}, got ${JSON.stringify(value)}` });
        return z.NEVER;
      }
      return n;
    });

const Env = z.object({
  [RECORDER_ENV.homeserverUrl]: z.url({ protocol: /^https?$/ }),
  [RECORDER_ENV.user]: z.string().regex(LOCALPART, 'a Matrix localpart (lower-case letters, digits, ._=-/+)'),
  [RECORDER_ENV.serverName]: z.string().min(1).max(255),
  [RECORDER_ENV.passwordFile]: z.string().min(1),
  [RECORDER_ENV.dataDir]: z.string().min(1),
  [RECORDER_ENV.listen]: z.string().default('0.0.0.0:9101').pipe(hostPort),
  [RECORDER_ENV.controlListen]: hostPort.optional(),
  [RECORDER_ENV.membershipListen]: hostPort.optional(),
  [RECORDER_ENV.controlRoom]: z.string().regex(/^#[^:]+:.+$/, 'a room alias like #control:<server>'),
  [RECORDER_ENV.channel]: jsonChannel,
  [RECORDER_ENV.logLevel]: z
    .string()
    .optional()
    .transform((value, ctx): LogLevel => {
      const level = value === undefined || value === '' ? 'info' : value;
      if (!isLogLevel(level)) {
        ctx.addIssue({ code: 'custom', message: `unknown log level ${JSON.stringify(level)}` });
        return z.NEVER;
      }
      return level;
    }),
  [RECORDER_ENV.mediaMaxBytes]: positiveInt(100 * 1024 * 1024, 4 * 1024 * 1024 * 1024),
  [RECORDER_ENV.decryptWaitMs]: positiveInt(12_000, 120_000),
});

/** Parses the environment; throws one line naming every bad variable (never its value when it may be secret). */
export function parseRecorderConfig(env: NodeJS.ProcessEnv): RecorderConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new Error(`recorder configuration: ${reasons.join('; ')}`);
  }
  const e = parsed.data;
  const user = e[RECORDER_ENV.user];
  const serverName = e[RECORDER_ENV.serverName];
  return {
    homeserverUrl: e[RECORDER_ENV.homeserverUrl],
    user,
    serverName,
    userId: `@${user}:${serverName}`,
    passwordFile: e[RECORDER_ENV.passwordFile],
    dataDir: e[RECORDER_ENV.dataDir],
    listen: e[RECORDER_ENV.listen],
    controlListen: e[RECORDER_ENV.controlListen],
    membershipListen: e[RECORDER_ENV.membershipListen],
    controlRoom: e[RECORDER_ENV.controlRoom],
    channel: e[RECORDER_ENV.channel],
    logLevel: e[RECORDER_ENV.logLevel],
    mediaMaxBytes: e[RECORDER_ENV.mediaMaxBytes],
    decryptWaitMs: e[RECORDER_ENV.decryptWaitMs],
  };
}

/** A Kubernetes Secret file usually ends with a newline; Synapse strips its copy the same way. */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read ${RECORDER_ENV.passwordFile} (${path}): ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const password = text.trim();
  if (password.length === 0) throw new Error(`${RECORDER_ENV.passwordFile} (${path}) is empty`);
  return password;
}
