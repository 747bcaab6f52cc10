// The recorder sidecar as the image runs it (`node src/main.ts recorder`, configured by env only) as a child process
// on the host, with its membership listener: for the call test and bench, where the authoriser asks it who is joined.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TranscriptRecord } from '../../src/evidence/transcript.ts';
import { RECORDER_ENV } from '../../src/recorder/config.ts';
import { freeTcpPorts } from './matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from './matrix-process.ts';
import { MAIN, NODE } from './war-room-accounts.ts';

export interface RecorderProcess {
  peer: PeerProcess;
  /** The read-only API (/status, /healthz). */
  api: string;
  /** The membership listener the authoriser asks (WARROOM_RTC_MEMBERSHIP_URL). */
  membershipUrl: string;
  /** The transcript's records so far. */
  transcript(): Promise<TranscriptRecord[]>;
  stop(): Promise<void>;
}

/** Starts the recorder under `dir` (password file and data directory) and waits for its /healthz. */
export async function startRecorderProcess(opts: {
  homeserverUrl: string;
  serverName: string;
  account: { handle: string; password: string };
  dir: string;
}): Promise<RecorderProcess> {
  const dataDir = join(opts.dir, 'recorder-data');
  const passwordFile = join(opts.dir, 'recorder-password');
  await mkdir(opts.dir, { recursive: true });
  await writeFile(passwordFile, `${opts.account.password}\n`, { mode: 0o600 });
  const [port, membershipPort] = (await freeTcpPorts(2)) as [number, number];
  const api = `http://127.0.0.1:${port}`;
  const peer = startPeerProcess(NODE, [MAIN, 'recorder'], {
    env: {
      PATH: process.env.PATH,
      [RECORDER_ENV.homeserverUrl]: opts.homeserverUrl,
      [RECORDER_ENV.user]: opts.account.handle,
      [RECORDER_ENV.serverName]: opts.serverName,
      [RECORDER_ENV.passwordFile]: passwordFile,
      [RECORDER_ENV.dataDir]: dataDir,
      [RECORDER_ENV.listen]: `127.0.0.1:${port}`,
      [RECORDER_ENV.membershipListen]: `127.0.0.1:${membershipPort}`,
      [RECORDER_ENV.controlRoom]: `#control:${opts.serverName}`,
      [RECORDER_ENV.channel]: JSON.stringify({ name: 'ir-host', uid: 'u-host', caseId: 'IR-HOST', namespace: 'wr' }),
      [RECORDER_ENV.logLevel]: 'warn',
    },
  });
  await waitUntil('recorder /healthz', async () => (await fetch(`${api}/healthz`)).ok, peer, 30_000);
  return {
    peer,
    api,
    membershipUrl: `http://127.0.0.1:${membershipPort}`,
    async transcript() {
      const text = await readFile(join(dataDir, 'transcript', 'transcript.jsonl'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as TranscriptRecord);
    },
    stop: () => peer.stop(),
  };
}
