import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  renderHomeserverYaml,
  renderSynapseLogYaml,
  SYNAPSE_CONFIG_FILES,
  SYNAPSE_SECRET_FILES,
  synapseCommandArgs,
} from '../../src/matrix/config/synapse.ts';
import { freeTcpPorts } from './matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from './matrix-process.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pinned Synapse venv, installed on first use by hack/peers/synapse.sh (which prints its path). */
export function synapseVenv(): string {
  const result = spawnSync('bash', [join(REPO_ROOT, 'hack/peers/synapse.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`hack/peers/synapse.sh failed with ${result.status}`);
  const venv = result.stdout.trim().split('\n').at(-1);
  if (!venv) throw new Error('hack/peers/synapse.sh printed no venv path');
  return venv;
}

export interface SynapseSecrets {
  registrationSharedSecret: string;
  macaroonSecretKey: string;
  formSecret: string;
  turnSharedSecret: string;
  /** `ed25519 a_abcd <43-char unpadded base64 seed>`, the signedjson one-line format. */
  signingKey: string;
}

export interface SynapsePeer {
  baseUrl: string;
  /** The openid-only listener, when MatrixRTC is on. */
  openIdUrl?: string;
  metricsUrl: string;
  serverName: string;
  homeserverYaml: string;
  secrets: SynapseSecrets;
  /** Spawn to first 200 from /health. */
  bootMs: number;
  process: PeerProcess;
  stop(): Promise<void>;
}

export interface StartSynapseOptions {
  serverName: string;
  aliasCreators: string[];
  turnUris: string[];
  turnSharedSecret: string;
  /** MatrixRTC on: the authoriser's URL; the openid-only listener gets a free port (`openIdUrl`). */
  rtcAuthoriserUrl?: string;
}

const secret = () => randomBytes(32).toString('base64url');

/** Boots a real Synapse on 127.0.0.1 from our rendered config, in a temp dir removed by stop(). */
export async function startSynapse(options: StartSynapseOptions): Promise<SynapsePeer> {
  const venv = synapseVenv();
  const root = await mkdtemp(join(tmpdir(), 'warroom-synapse-'));
  const paths = { configDir: join(root, 'config'), secretsDir: join(root, 'secrets'), dataDir: join(root, 'data') };
  await Promise.all(Object.values(paths).map((dir) => mkdir(dir, { recursive: true, mode: 0o700 })));
  const [client, metrics, openId] = (await freeTcpPorts(3)) as [number, number, number];
  const ports = { client, metrics };
  const openIdPort = options.rtcAuthoriserUrl ? openId : undefined;
  const baseUrl = `http://127.0.0.1:${ports.client}`;

  const secrets: SynapseSecrets = {
    registrationSharedSecret: secret(),
    macaroonSecretKey: secret(),
    formSecret: secret(),
    turnSharedSecret: options.turnSharedSecret,
    signingKey: `ed25519 a_abcd ${randomBytes(32).toString('base64').replace(/=+$/, '')}`,
  };
  const files: Record<keyof SynapseSecrets, string> = {
    registrationSharedSecret: SYNAPSE_SECRET_FILES.registrationSharedSecret,
    macaroonSecretKey: SYNAPSE_SECRET_FILES.macaroonSecretKey,
    formSecret: SYNAPSE_SECRET_FILES.formSecret,
    turnSharedSecret: SYNAPSE_SECRET_FILES.turnSharedSecret,
    signingKey: SYNAPSE_SECRET_FILES.signingKey,
  };
  for (const [key, file] of Object.entries(files) as Array<[keyof SynapseSecrets, string]>) {
    // A trailing newline, as a Kubernetes Secret file often has: Synapse strips it.
    await writeFile(join(paths.secretsDir, file), `${secrets[key]}\n`, { mode: 0o600 });
  }

  const homeserverYaml = renderHomeserverYaml({
    serverName: options.serverName,
    publicBaseUrl: `${baseUrl}/`,
    turnUris: options.turnUris,
    database: { kind: 'sqlite' },
    aliasCreators: options.aliasCreators,
    paths,
    ports,
    bindAddresses: ['127.0.0.1'],
    ...(options.rtcAuthoriserUrl && openIdPort
      ? { matrixRtc: { authoriserUrl: options.rtcAuthoriserUrl, openIdPort } }
      : {}),
  });
  await writeFile(join(paths.configDir, SYNAPSE_CONFIG_FILES.homeserver), homeserverYaml);
  await writeFile(join(paths.configDir, SYNAPSE_CONFIG_FILES.log), renderSynapseLogYaml());

  const started = performance.now();
  const peer = startPeerProcess(join(venv, 'bin', 'python'), synapseCommandArgs(paths), { cwd: root });
  const stop = async () => {
    await peer.stop();
    await rm(root, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      'synapse /health',
      async () => (await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) })).status === 200,
      peer,
      90_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    baseUrl,
    ...(openIdPort ? { openIdUrl: `http://127.0.0.1:${openIdPort}` } : {}),
    metricsUrl: `http://127.0.0.1:${ports.metrics}/_synapse/metrics`,
    serverName: options.serverName,
    homeserverYaml,
    secrets,
    bootMs: Math.round(performance.now() - started),
    process: peer,
    stop,
  };
}
