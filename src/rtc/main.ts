import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { createLogger } from '../observability/logger.ts';
import { Authoriser, DEFAULT_TOKEN_TTL_SECONDS } from './authoriser.ts';
import { LiveKitRoomService } from './livekit-rooms.ts';
import { RecorderMembership, SynapseOpenId } from './matrix-checks.ts';
import { createRtcServer } from './server.ts';

/**
 * The `rtc-authoriser` entrypoint. Its contract is RTC_AUTHORISER_ENV in desired/rtc-authoriser.ts: URLs and names in
 * env, every credential as a file of a mounted Secret (never env, never logged).
 */
export const RtcAuthoriserEnv = z.object({
  WARROOM_SERVER_NAME: z.string().min(1),
  WARROOM_RTC_LISTEN_PORT: z.coerce.number().int().min(1).max(65535).default(8090),
  WARROOM_RTC_LISTEN_ADDRESS: z.string().default('0.0.0.0'),
  /** The SFU as clients reach it (ws:// or wss://), answered to them verbatim. */
  WARROOM_RTC_SFU_URL: z.url({ protocol: /^wss?$/ }),
  /** The SFU's HTTP API inside the namespace, for CreateRoom. */
  WARROOM_RTC_SFU_API_URL: z.url({ protocol: /^https?$/ }),
  /** Synapse's listener that serves only the `openid` resource. */
  WARROOM_RTC_OPENID_URL: z.url({ protocol: /^https?$/ }),
  /**
   * The recorder's membership listener (src/recorder/membership-server.ts). Unset when the war room does not record:
   * then any user of the server may join any of its calls (said at start).
   */
  WARROOM_RTC_MEMBERSHIP_URL: z.url({ protocol: /^https?$/ }).optional(),
  WARROOM_LIVEKIT_API_KEY_FILE: z.string().min(1),
  WARROOM_LIVEKIT_API_SECRET_FILE: z.string().min(1),
  WARROOM_RTC_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(DEFAULT_TOKEN_TTL_SECONDS),
  WARROOM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type RtcAuthoriserEnv = z.infer<typeof RtcAuthoriserEnv>;

const readSecret = async (path: string) => {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
};

export function parseRtcEnv(env: NodeJS.ProcessEnv): RtcAuthoriserEnv {
  const parsed = RtcAuthoriserEnv.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') ?? '';
    const unset = issue?.code === 'invalid_type' && env[name] === undefined;
    throw new Error(`rtc-authoriser: ${name}: ${unset ? 'is not set' : issue?.message}`);
  }
  return parsed.data;
}

export async function runRtcAuthoriser(env: NodeJS.ProcessEnv): Promise<{ close(): Promise<void>; url: string }> {
  const config = parseRtcEnv(env);
  const log = createLogger({ level: config.WARROOM_LOG_LEVEL }).child({ component: 'rtc-authoriser' });
  const apiKey = await readSecret(config.WARROOM_LIVEKIT_API_KEY_FILE);
  const apiSecret = await readSecret(config.WARROOM_LIVEKIT_API_SECRET_FILE);
  if (apiSecret.length < 32) throw new Error('the LiveKit API secret must be at least 32 characters');
  const credentials = { apiKey, apiSecret };
  if (config.WARROOM_RTC_MEMBERSHIP_URL === undefined) {
    log.warn(
      { serverName: config.WARROOM_SERVER_NAME },
      'no membership source (the war room does not record): any user of this server may join any of its calls',
    );
  }
  const authoriser = new Authoriser({
    serverName: config.WARROOM_SERVER_NAME,
    sfuUrl: config.WARROOM_RTC_SFU_URL,
    credentials,
    tokenTtlSeconds: config.WARROOM_RTC_TOKEN_TTL_SECONDS,
    openId: new SynapseOpenId(config.WARROOM_RTC_OPENID_URL),
    membership:
      config.WARROOM_RTC_MEMBERSHIP_URL === undefined
        ? undefined
        : new RecorderMembership(config.WARROOM_RTC_MEMBERSHIP_URL),
    rooms: new LiveKitRoomService(config.WARROOM_RTC_SFU_API_URL, credentials),
    log,
  });
  const app = createRtcServer(authoriser, log);
  const url = await app.listen({ host: config.WARROOM_RTC_LISTEN_ADDRESS, port: config.WARROOM_RTC_LISTEN_PORT });
  log.info({ url, serverName: config.WARROOM_SERVER_NAME }, 'rtc authoriser listening');
  const close = () => app.close();
  process.once('SIGTERM', () => void close().then(() => process.exit(0)));
  process.once('SIGINT', () => void close().then(() => process.exit(0)));
  return { close, url };
}
