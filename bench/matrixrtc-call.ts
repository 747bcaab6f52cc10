// MatrixRTC calls on real peers (loopback): Synapse with MatrixRTC on, coturn, the pinned livekit-server and our
// rtc-authoriser entrypoint as its own process. Prints the idle memory of the SFU and the authoriser, then
// join → first audio frame: a listener asks the authoriser for a token (fresh OpenID token included), connects and
// waits for the first non-silent frame of a tone another member publishes; 10 joins, p50/min/max. One run.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dispose, Room } from '@livekit/rtc-node';
import { createClient } from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { provision } from '../src/matrix/provisioner.ts';
import { loginWithPassword } from '../src/matrix/register.ts';
import { startCoturn } from '../test/support/coturn-peer.ts';
import { heardFrames, publishTone } from '../test/support/livekit-audio.ts';
import { startLiveKit } from '../test/support/livekit-peer.ts';
import { freeTcpPort } from '../test/support/matrix-ports.ts';
import { startPeerProcess, waitUntil } from '../test/support/matrix-process.ts';
import { hostAuthoriserEnv, tokenRequestBody } from '../test/support/matrixrtc.ts';
import { startRecorderProcess } from '../test/support/recorder-process.ts';
import { startSynapse } from '../test/support/synapse-peer.ts';

(sdkLogger as unknown as { setLevel(level: string): void }).setLevel('error');
const SERVER_NAME = 'inc-bench.invalid';
const JOINS = 10;
const pw = () => `pw-${randomBytes(18).toString('base64url')}`;
const admin = { handle: 'warroom-admin', password: pw() };
const speakerAcct = { handle: 'alice', role: 'lead' as const, password: pw() };
const listenerAcct = { handle: 'erin', role: 'responder' as const, password: pw() };
const rssMiB = async (pid: number | undefined) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const turnSecret = randomBytes(32).toString('base64url');
const apiKey = `APIb${randomBytes(6).toString('hex')}`;
const apiSecret = randomBytes(32).toString('base64url');
const coturn = await startCoturn({ realm: SERVER_NAME, secret: turnSecret });
const authPort = await freeTcpPort();
const authUrl = `http://127.0.0.1:${authPort}`;
const synapse = await startSynapse({
  serverName: SERVER_NAME,
  aliasCreators: [`@${admin.handle}:${SERVER_NAME}`],
  turnUris: [`turn:127.0.0.1:${coturn.port}?transport=udp`],
  turnSharedSecret: turnSecret,
  rtcAuthoriserUrl: authUrl,
});
const livekit = await startLiveKit({ apiKey, apiSecret, turn: { port: coturn.port, secret: turnSecret } });
const secrets = await mkdtemp(join(tmpdir(), 'warroom-bench-rtc-'));
const file = async (name: string, value: string) => {
  await writeFile(join(secrets, name), `${value}\n`, { mode: 0o600 });
  return join(secrets, name);
};
// The authoriser asks the recorder who is joined (as in a war room): the recorder runs, and joins every room itself.
const recorderAccount = { handle: 'warroom-recorder', password: pw() };
const recorder = await startRecorderProcess({
  homeserverUrl: synapse.baseUrl,
  serverName: SERVER_NAME,
  account: recorderAccount,
  dir: join(secrets, 'recorder'),
});
const authoriser = startPeerProcess(
  process.execPath,
  [fileURLToPath(new URL('../src/main.ts', import.meta.url)), 'rtc-authoriser'],
  {
    env: {
      PATH: process.env.PATH,
      ...hostAuthoriserEnv({
        serverName: SERVER_NAME,
        port: authPort,
        livekit,
        openIdUrl: synapse.openIdUrl,
        membershipUrl: recorder.membershipUrl,
        apiKeyFile: await file('key', apiKey),
        apiSecretFile: await file('secret', apiSecret),
      }),
    },
  },
);
try {
  await waitUntil('authoriser /healthz', async () => (await fetch(`${authUrl}/healthz`)).ok, authoriser, 30_000);
  const summary = await provision({
    baseUrl: synapse.baseUrl,
    serverName: SERVER_NAME,
    registrationSharedSecret: synapse.secrets.registrationSharedSecret,
    adminBot: admin,
    recorder: recorderAccount,
    participants: [speakerAcct, listenerAcct],
    recorderJoinsItself: true,
  });
  const ops = summary.rooms.find((r) => r.alias === `#ops:${SERVER_NAME}`)?.roomId ?? '';
  const member = async (acct: { handle: string; password: string }) => {
    const s = await loginWithPassword(synapse.baseUrl, acct.handle, acct.password);
    const client = createClient({
      logger: sdkLogger,
      baseUrl: synapse.baseUrl,
      accessToken: s.accessToken,
      userId: s.userId,
      deviceId: s.deviceId,
    });
    await client.joinRoom(ops);
    return { client, userId: s.userId, deviceId: s.deviceId };
  };
  const speaker = await member(speakerAcct);
  const listener = await member(listenerAcct);
  const token = async (who: typeof speaker, memberId: string) => {
    const res = await fetch(`${authUrl}/get_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tokenRequestBody(who, ops, await who.client.getOpenIdToken(), memberId)),
    });
    if (!res.ok) throw new Error(`get_token: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { url: string; jwt: string };
  };

  await sleep(3000);
  const idle = { sfu: await rssMiB(livekit.process.child.pid), authoriser: await rssMiB(authoriser.child.pid) };

  const speakerGrant = await token(speaker, 'speaker');
  const speakerRoom = new Room();
  await speakerRoom.connect(speakerGrant.url, speakerGrant.jwt, { autoSubscribe: false, dynacast: false });
  const tone = await publishTone(speakerRoom);

  const joins: number[] = [];
  for (let i = 0; i < JOINS; i++) {
    const started = performance.now();
    const grant = await token(listener, `listener-${i}`);
    const room = new Room();
    const heard = heardFrames(room, 1);
    await room.connect(grant.url, grant.jwt, { autoSubscribe: true, dynacast: false });
    joins.push((await heard).firstAt - started);
    await room.disconnect();
    await sleep(500);
  }
  const inCall = { sfu: await rssMiB(livekit.process.child.pid), authoriser: await rssMiB(authoriser.child.pid) };
  await tone.stop();
  await speakerRoom.disconnect();

  const sorted = [...joins].sort((a, b) => a - b);
  const p50 = ((sorted[4] ?? 0) + (sorted[5] ?? 0)) / 2;
  console.log('MatrixRTC call on real peers (loopback; livekit-server v1.13.11, our rtc-authoriser)');
  console.log(
    `join → first audio frame over ${JOINS} joins: p50 ${p50.toFixed(0)} ms, min ${sorted[0]?.toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms`,
  );
  console.log(
    `  each: ${joins.map((j) => j.toFixed(0)).join(', ')} ms (token request with a fresh OpenID token, connect, subscribe, first non-silent frame)`,
  );
  console.log(`idle RSS: SFU ${idle.sfu.toFixed(1)} MiB, authoriser ${idle.authoriser.toFixed(1)} MiB`);
  console.log(
    `after the joins, one member still publishing: SFU ${inCall.sfu.toFixed(1)} MiB, authoriser ${inCall.authoriser.toFixed(1)} MiB`,
  );
} finally {
  await dispose();
  await authoriser.stop();
  await recorder.stop();
  await livekit.stop();
  await synapse.stop();
  await coturn.stop();
  await rm(secrets, { recursive: true, force: true });
}
