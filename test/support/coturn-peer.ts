import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coturnStartCommand, renderTurnserverConf, type TurnserverParams } from '../../src/matrix/config/coturn.ts';
import { freePortRange } from './matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from './matrix-process.ts';

export interface CoturnPeer {
  port: number;
  minPort: number;
  maxPort: number;
  /** The rendered (secret-free) conf as written to the "ConfigMap" file. */
  conf: string;
  bootMs: number;
  process: PeerProcess;
  stop(): Promise<void>;
}

export interface StartCoturnOptions {
  realm: string;
  secret: string;
  /** Overrides on top of the loopback test setup. */
  params?: Partial<TurnserverParams>;
  /** Appended to the rendered conf, for test-only directives. */
  extraConf?: string;
}

const RELAY_PORTS = 10;

/** Runs `cmd` to completion (bounded), never throwing on a non-zero exit. */
export function runTool(
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * Boots real coturn exactly as the pod will: the rendered conf in one file, the raw secret in another, and our
 * start command assembling both into a private runtime file before exec'ing turnserver.
 */
export async function startCoturn(options: StartCoturnOptions): Promise<CoturnPeer> {
  const root = await mkdtemp(join(tmpdir(), 'warroom-coturn-'));
  const base = await freePortRange(RELAY_PORTS + 1);
  const port = base;
  const minPort = base + 1;
  const maxPort = base + RELAY_PORTS;
  const conf =
    renderTurnserverConf({
      realm: options.realm,
      listeningPort: port,
      listeningIps: ['127.0.0.1'],
      relayIp: '127.0.0.1',
      minPort,
      maxPort,
      pidFile: join(root, 'turnserver.pid'),
      userDbPath: join(root, 'turndb'),
      ...options.params,
    }) + (options.extraConf ?? '');
  const templatePath = join(root, 'turnserver.conf');
  const secretPath = join(root, 'turn_shared_secret');
  await writeFile(templatePath, conf);
  await writeFile(secretPath, `${options.secret}\n`, { mode: 0o600 });
  const [shell = '/bin/sh', ...args] = coturnStartCommand({
    templatePath,
    secretPath,
    runtimeConfigPath: join(root, 'runtime.conf'),
  });
  const started = performance.now();
  const peer = startPeerProcess(shell, args, { cwd: root });
  const stop = async () => {
    await peer.stop();
    await rm(root, { recursive: true, force: true });
  };
  try {
    // A STUN binding answered is the real readiness signal (it does not depend on log wording).
    await waitUntil(
      'coturn STUN binding',
      async () => (await runTool('turnutils_stunclient', ['-p', String(port), '127.0.0.1'], 1500)).code === 0,
      peer,
      30_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, minPort, maxPort, conf, bootMs: Math.round(performance.now() - started), process: peer, stop };
}

/** TURN REST API credentials, computed independently of Synapse: `<expiry>:<user>`, base64(HMAC-SHA1). */
export function turnRestCredentials(secret: string, user: string, expiresAtSeconds: number) {
  const username = `${expiresAtSeconds}:${user}`;
  return { username, password: createHmac('sha1', secret).update(username).digest('base64') };
}

/**
 * One turnutils_uclient run against 127.0.0.1:`port` with the given credentials, `messages` packets to
 * 127.0.0.1:`peerPort`. Its output says "Received relay addr" once an allocation succeeded.
 */
export function uclient(
  port: number,
  credentials: { username: string; password: string },
  peerPort: number,
  messages = 1,
) {
  return runTool('turnutils_uclient', [
    '-v',
    '-c',
    '-n',
    String(messages),
    '-p',
    String(port),
    '-u',
    credentials.username,
    '-w',
    credentials.password,
    '-e',
    '127.0.0.1',
    '-r',
    String(peerPort),
    '127.0.0.1',
  ]);
}
