import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinaries } from '../../hack/cluster/binaries.ts';
import { liveKitStartCommand, renderLiveKitConfig } from '../../src/matrix/config/livekit.ts';
import { freeTcpPorts } from './matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from './matrix-process.ts';

export interface LiveKitPeer {
  /** http://127.0.0.1:<port>: RoomService (Twirp) and, as ws://, the signalling URL. */
  httpUrl: string;
  wsUrl: string;
  config: string;
  bootMs: number;
  process: PeerProcess;
  stop(): Promise<void>;
}

/**
 * Boots the pinned livekit-server (built from its module by hack/cluster/build-binaries.sh) on loopback, from our
 * rendered config through our start command, exactly as the pod runs it: key pair in a 0600 key file, TURN secret
 * spliced in at start.
 */
export async function startLiveKit(options: {
  apiKey: string;
  apiSecret: string;
  turn?: { port: number; secret: string };
}): Promise<LiveKitPeer> {
  const { 'livekit-server': binary } = await ensureBinaries(['livekit-server']);
  const root = await mkdtemp(join(tmpdir(), 'warroom-livekit-'));
  const [port, rtcTcpPort, rtcUdpPort] = (await freeTcpPorts(3)) as [number, number, number];
  const keyFile = join(root, 'keys.yaml');
  await writeFile(keyFile, `${options.apiKey}: ${options.apiSecret}\n`, { mode: 0o600 });
  const turnSecretPath = join(root, 'turn_shared_secret');
  await writeFile(turnSecretPath, `${options.turn?.secret ?? ''}\n`, { mode: 0o600 });
  const config = renderLiveKitConfig({
    port,
    rtcTcpPort,
    rtcUdpPort,
    nodeIp: '127.0.0.1',
    bindAddresses: ['127.0.0.1'],
    keyFile,
    ...(options.turn ? { turn: { host: '127.0.0.1', port: options.turn.port, protocol: 'udp', ttlSeconds: 600 } } : {}),
  });
  const templatePath = join(root, 'livekit.yaml');
  await writeFile(templatePath, config);
  const [shell = '/bin/sh', ...args] = liveKitStartCommand({
    templatePath,
    turnSecretPath,
    runtimeConfigPath: join(root, 'runtime.yaml'),
    binary,
  });
  const started = performance.now();
  const peer = startPeerProcess(shell, args, { cwd: root });
  const httpUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await peer.stop();
    await rm(root, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      'livekit-server HTTP',
      async () => (await fetch(httpUrl, { signal: AbortSignal.timeout(1500) })).status === 200,
      peer,
      30_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    httpUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    config,
    bootMs: Math.round(performance.now() - started),
    process: peer,
    stop,
  };
}
