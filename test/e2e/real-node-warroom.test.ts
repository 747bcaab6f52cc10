// The war room END TO END ON A REAL NODE: kubelet + containerd run every pod from images built here. The operator is
// a pod installed by our Helm chart, the sealed-secrets controller a pod installed by its upstream chart. Synapse
// becomes Ready through its real /health probe, the provisioning Job really registers users and creates rooms, the
// recorder sidecar really joins; a participant on the host logs in through the Synapse Service's ClusterIP with the
// password the controller unsealed, and talks in #ops (E2EE). Faults: the Synapse container SIGKILLed mid-conversation
// (the transcript keeps every message once), a missing image (a clear condition, not a silent Pending). Closing the
// channel archives and verifies the evidence on the operator's volume, and the namespace and its containers go.
// examples/full.yaml adds Postgres, an Ingress and MatrixRTC: two participants get call tokens from the authoriser pod
// (which asks the recorder whether they are in the room) and one hears the other's tone through the LiveKit SFU pod.
// Root on Linux only; one real node per machine, so this waits for the lock while another real-node run holds it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dispose, Room } from '@livekit/rtc-node';
import { realNodeUnsupportedReason } from '../../hack/cluster/real-node.ts';
import { matrixRequest } from '../../src/matrix/matrix-http.ts';
import { eventually } from '../support/kubectl.ts';
import { heardFrames, publishTone } from '../support/livekit-audio.ts';
import type { SdkUser } from '../support/matrix-sdk-client.ts';
import { CALL_MEMBER, callMembership, tokenRequestBody } from '../support/matrixrtc.ts';
import {
  type Channel,
  conditionOf,
  EVIDENCE_MOUNT,
  joinOps,
  startParticipant,
  startWarRoomEnv,
  uniqueChannelName,
  type WarRoomEnv,
} from '../support/real-node-warroom.ts';
import { assertVerifiedTranscript } from '../support/verified-transcript.ts';

const unsupported = realNodeUnsupportedReason();

describe('the war room on a real node', { skip: unsupported ? `skipped: ${unsupported}` : false }, () => {
  let env: WarRoomEnv;
  let work: string;
  const name = uniqueChannelName('real');
  let namespace = '';
  let ops = '';
  const users: SdkUser[] = [];
  /** Every message a participant sent, by event id: each must be in the archived transcript exactly once. */
  const sent = new Map<string, string>();
  let archivePath = '';
  let full = '';
  let fullNs = '';
  const figures: Record<string, number> = {};

  before(
    async () => {
      work = await mkdtemp(join(tmpdir(), 'warroom-real-e2e-'));
      env = await startWarRoomEnv();
      console.log(`set-up (s): ${JSON.stringify(env.timings)}`);
    },
    { timeout: 40 * 60_000 },
  );

  after(async () => {
    for (const u of users) await u.stop().catch(() => {});
    await dispose();
    await env?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    console.log(`figures (s): ${JSON.stringify(figures)}`);
  });

  test('apply → Ready: Synapse Ready by its /health probe, the Job provisions, coturn runs, the recorder joins', async () => {
    const applied = performance.now();
    await env.k.apply(env.channelManifest(name));
    const ready = await env.waitForChannel(
      name,
      'Ready',
      (c) => (c.status?.phase === 'Ready' ? c : undefined),
      600_000,
    );
    figures['apply → Ready'] = Number(((performance.now() - applied) / 1000).toFixed(1));
    namespace = ready.status?.namespace ?? '';
    assert.ok(namespace);
    for (const type of ['SynapseReady', 'UsersProvisioned', 'TurnReady', 'ElementReady', 'SecretsSealed']) {
      assert.equal(conditionOf(ready, type)?.status, 'True', `${type}: ${conditionOf(ready, type)?.message}`);
    }

    // The pods really run: Synapse and the recorder sidecar Ready (the kubelet ran the /health probe), the Job done.
    const synapse = await env.k.getJson<{
      spec: { containers: { name: string; readinessProbe?: { httpGet?: { path: string } } }[] };
      status: { containerStatuses: { name: string; ready: boolean; started?: boolean }[] };
    }>(['-n', namespace, 'pod', 'synapse-0']);
    assert.equal(synapse?.spec.containers.find((c) => c.name === 'synapse')?.readinessProbe?.httpGet?.path, '/health');
    assert.deepEqual(synapse?.status.containerStatuses.map((c) => [c.name, c.ready]).sort(), [
      ['recorder', true],
      ['synapse', true],
    ]);
    const jobs = await env.k.getJson<{ items: { status: { succeeded?: number; failed?: number } }[] }>([
      '-n',
      namespace,
      'jobs',
    ]);
    assert.equal(jobs?.items[0]?.status.succeeded, 1, 'the provisioning Job completed');
    // Its first pod did it: it waits for Synapse's /health rather than failing into the Job's back-off.
    assert.equal(jobs?.items[0]?.status.failed ?? 0, 0, 'no provisioning pod failed');
    const jobLog = await env.k.exec(['-n', namespace, 'logs', 'job/' + (await jobName(env, namespace))]);
    assert.match(jobLog, /provisioning complete/);
    assert.match(jobLog, /"account":"created"/);
    const running = await env.containersOf(namespace);
    for (const c of ['synapse', 'recorder', 'coturn', 'element']) {
      assert.ok(
        running.some((x) => x.container === c),
        `containerd runs a ${c} container`,
      );
    }

    // The recorder joined both rooms before anyone was invited, and the operator copies its figures into status.
    const status = await env.recorderStatus(namespace);
    assert.equal(status.ready, true);
    assert.deepEqual(status.rooms.map((r) => r.alias?.split(':')[0]).sort(), ['#control', '#ops']);
    const recording = await pokeUntil(env, name, 'Recording=True', (c) =>
      conditionOf(c, 'Recording')?.status === 'True' && (c.status?.recording?.events ?? 0) > 0 ? c : undefined,
    );
    assert.match(recording.status?.recording?.headHash ?? '', /^[0-9a-f]{64}$/);
  });

  test('a participant on the host logs in through the Synapse ClusterIP, sees E2EE on, and is recorded', async () => {
    assert.ok(namespace, 'the channel came up');
    const falcon = await startParticipant(env, namespace, 'falcon');
    users.push(falcon);
    const heron = await startParticipant(env, namespace, 'heron');
    users.push(heron);
    ops = await joinOps(env, namespace, falcon);
    await joinOps(env, namespace, heron);
    assert.equal(await falcon.isEncryptionEnabled(ops), true, '#ops is end-to-end encrypted');

    const before = (await env.recorderStatus(namespace)).events;
    const t0 = performance.now();
    const body = 'containment: the jump host is off the network';
    const id = await falcon.sendText(ops, body);
    sent.set(id, body);
    const seen = await heron.waitForDecryptedMessage(ops, body, 60_000);
    assert.equal(seen.wireType, 'm.room.encrypted', 'it crossed the wire encrypted');
    sent.set(await heron.sendText(ops, 'ack, imaging it now'), 'ack, imaging it now');
    await eventually(
      'the recorder holds both messages',
      async () => (await env.recorderStatus(namespace)).events >= before + 2,
      60_000,
    );
    figures['message → recorded'] = Number(((performance.now() - t0) / 1000).toFixed(1));
    const poked = await pokeUntil(env, name, 'status.recording.events grows', (c) =>
      (c.status?.recording?.events ?? 0) >= before + 2 ? c : undefined,
    );
    assert.ok((poked.status?.recording?.events ?? 0) >= before + 2);
  });

  test('the Synapse container SIGKILLed mid-conversation restarts; messages before and after are all recorded', async () => {
    assert.ok(ops, 'the participants are in #ops');
    const [falcon, heron] = users as [SdkUser, SdkUser];
    const restartsBefore = await restartCount(env, namespace, 'synapse');
    const pre = 'before the kill: disk image hash posted in #control';
    sent.set(await falcon.sendText(ops, pre), pre);
    await heron.waitForDecryptedMessage(ops, pre, 60_000);

    const killed = performance.now();
    await env.killContainer(namespace, 'synapse');
    await eventually(
      'Synapse restarted and Ready again',
      async () => (await restartCount(env, namespace, 'synapse')) > restartsBefore && (await podReady(env, namespace)),
      180_000,
    );
    figures['Synapse kill → Ready again'] = Number(((performance.now() - killed) / 1000).toFixed(1));

    const post = ['after the restart: still here', 'after the restart: rotating the credentials now'];
    sent.set(await falcon.sendText(ops, post[0] as string), post[0] as string);
    sent.set(await heron.sendText(ops, post[1] as string), post[1] as string);
    await heron.waitForDecryptedMessage(ops, post[0] as string, 90_000);
    await falcon.waitForDecryptedMessage(ops, post[1] as string, 90_000);
    const total = sent.size;
    await eventually(
      'the recorder caught up after the restart',
      async () => {
        const s = await env.recorderStatus(namespace);
        const room = s.rooms.find((r) => r.roomId === ops);
        return s.ready && room !== undefined && s.failed === 0 && s.decrypted >= total;
      },
      120_000,
    );
  });

  test('a missing image is a clear condition on the channel, not a silent Pending', async () => {
    const broken = uniqueChannelName('noimage');
    const missing = `${env.images.synapse.ref.split(':')[0]}:not-imported`;
    // Recording off: its recorder could never run, and there is no evidence to keep when it is deleted.
    await env.k.apply(env.channelManifest(broken, { images: { synapse: missing }, recording: { enabled: false } }));
    try {
      const c = await env.waitForChannel(
        broken,
        'SynapseReady names the image pull failure',
        (x) => {
          const cond = conditionOf(x, 'SynapseReady');
          return cond?.status === 'False' && /ErrImagePull|ImagePullBackOff|ErrImageNeverPull/.test(cond.reason)
            ? x
            : undefined;
        },
        180_000,
      );
      const synapseReady = conditionOf(c, 'SynapseReady');
      assert.match(synapseReady?.message ?? '', new RegExp(missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
      assert.notEqual(c.status?.phase, 'Ready');
      const ready = conditionOf(c, 'Ready');
      assert.equal(ready?.status, 'False');
      console.log(`missing image: SynapseReady ${synapseReady?.reason}: ${synapseReady?.message}`);
    } finally {
      await env.k.exec(['delete', 'incidentchannel', broken, '--wait=true', '--timeout=180s']).catch(() => {});
    }
  });

  test('examples/full.yaml (Postgres, Ingress, calls on a NodePort with an external IP) becomes Ready', async () => {
    full = uniqueChannelName('full');
    const applied = performance.now();
    // The SFU advertises the node's address (the example's 203.0.113.10 is documentation-only): the host's clients
    // in the next test reach its media ports there, through the NodePort Service.
    const manifest = env.fullChannelManifest(full) as { spec: { calls: { sfu: Record<string, unknown> } } };
    manifest.spec.calls.sfu.nodeIP = env.cluster.realNode?.nodeIp;
    await env.k.apply(manifest);
    const ready = await env.waitForChannel(
      full,
      'Ready',
      (c) => {
        // A stall does not heal by waiting: fail now, with the operator's own words.
        const stalled = conditionOf(c, 'Stalled');
        if (stalled?.status === 'True') throw new Error(`${full} stalled: ${stalled.reason}: ${stalled.message}`);
        return c.status?.phase === 'Ready' ? c : undefined;
      },
      600_000,
    );
    figures['full.yaml apply → Ready'] = Number(((performance.now() - applied) / 1000).toFixed(1));
    for (const type of [
      'SynapseReady',
      'UsersProvisioned',
      'TurnReady',
      'CallsReady',
      'ElementReady',
      'SecretsSealed',
    ]) {
      assert.equal(conditionOf(ready, type)?.status, 'True', `${type}: ${conditionOf(ready, type)?.message}`);
    }
    fullNs = ready.status?.namespace ?? '';
    const running = await env.containersOf(fullNs);
    for (const c of ['synapse', 'recorder', 'coturn', 'element', 'postgres', 'livekit', 'rtc-authoriser']) {
      assert.ok(
        running.some((x) => x.container === c),
        `containerd runs a ${c} container`,
      );
    }
    const turn = await env.k.getJson<{ spec: { type: string; externalIPs?: string[] } }>([
      '-n',
      fullNs,
      'service',
      'coturn',
    ]);
    assert.equal(turn?.spec.type, 'NodePort');
    assert.deepEqual(turn?.spec.externalIPs, ['203.0.113.10']);
    const ingresses = await env.k.getJson<{ items: { spec: { ingressClassName?: string } }[] }>([
      '-n',
      fullNs,
      'ingresses',
    ]);
    assert.ok((ingresses?.items.length ?? 0) > 0, 'its Ingress exists');
    assert.ok(ingresses?.items.every((i) => i.spec.ingressClassName === 'nginx'));
  });

  test('a MatrixRTC call in the full war room: the authoriser and SFU pods, through their Services', async () => {
    assert.ok(fullNs, 'the full war room came up');
    try {
      const members = [await startParticipant(env, fullNs, 'falcon'), await startParticipant(env, fullNs, 'heron')];
      users.push(...members);
      const room = await joinOps(env, fullNs, members[0] as SdkUser);
      await joinOps(env, fullNs, members[1] as SdkUser);
      const clusterIp = async (service: string) =>
        (await env.k.getJson<{ spec: { clusterIP: string } }>(['-n', fullNs, 'service', service]))?.spec.clusterIP;
      // The Ingress routes /livekit/jwt and /livekit/sfu to these Services; there is no ingress controller on this
      // node, so the host's clients use the Services' ClusterIPs (what the controller would proxy to).
      const authoriser = `http://${await clusterIp('rtc-authoriser')}:8090`;
      const sfu = `ws://${await clusterIp('livekit')}:7880`;
      const synapse = await env.synapseUrl(fullNs);
      const grant = async (who: SdkUser, roomId: string) => {
        const openid = await matrixRequest<Record<string, unknown>>(
          synapse,
          'POST',
          `/_matrix/client/v3/user/${encodeURIComponent(who.userId)}/openid/request_token`,
          { accessToken: who.accessToken, body: {} },
        );
        const res = await fetch(`${authoriser}/get_token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(tokenRequestBody(who, roomId, openid)),
          signal: AbortSignal.timeout(15_000),
        });
        return { status: res.status, body: (await res.json()) as { url?: string; jwt?: string; error?: string } };
      };

      const t0 = performance.now();
      const grants = [];
      for (const who of members) {
        const { status, body } = await grant(who, room);
        assert.equal(status, 200, JSON.stringify(body));
        // What a phone is told: the SFU behind the war room's Matrix host, as the Ingress publishes it.
        assert.equal(body.url, 'wss://matrix.ir-0043.example.org/livekit/sfu');
        grants.push(String(body.jwt));
        // The MatrixRTC membership, as Element Call and Element X send it: the recorder keeps it in the transcript.
        const { stateKey, content } = callMembership(who, room, authoriser);
        await matrixRequest(
          synapse,
          'PUT',
          `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/${CALL_MEMBER}/${encodeURIComponent(stateKey)}`,
          { accessToken: who.accessToken, body: content },
        );
      }
      const speaker = new Room();
      const listener = new Room();
      try {
        const heard = heardFrames(listener, 20);
        await listener.connect(sfu, grants[1] ?? '', { autoSubscribe: true, dynacast: false });
        await speaker.connect(sfu, grants[0] ?? '', { autoSubscribe: false, dynacast: false });
        const tone = await publishTone(speaker);
        const { count } = await heard.finally(() => tone.stop());
        assert.ok(count >= 20, `heard ${count} frames`);
      } finally {
        await speaker.disconnect();
        await listener.disconnect();
      }
      figures['call: tokens → frames heard'] = Number(((performance.now() - t0) / 1000).toFixed(1));

      // The authoriser asked the recorder, through the Synapse Service and the NetworkPolicy that opens that one port
      // to it: a room the member has not joined is refused.
      const control = await grant(members[1] as SdkUser, await roomIdOf(synapse, members[1] as SdkUser, 'control'));
      assert.equal(control.status, 403, JSON.stringify(control.body));
      assert.match(control.body.error ?? '', /is not joined to/);
    } finally {
      await env.k.exec(['delete', 'incidentchannel', full, '--wait=true', '--timeout=300s']).catch(() => {});
    }
  });

  test('close: archived and verified on the operator volume, namespace and containers gone; warroom verify accepts it', async () => {
    assert.ok(namespace, 'the channel came up');
    for (const u of users.splice(0)) await u.stop();
    const closing = performance.now();
    await env.k.exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
    const since = () => Number(((performance.now() - closing) / 1000).toFixed(1));
    // Where the time goes: the archive (seal, sign, store, verify) until the delete call, then the namespace's pods.
    await eventually(
      'the namespace is gone',
      async () => {
        const ns = await env.k.getJson<{ metadata: { deletionTimestamp?: string } }>(['namespace', namespace]);
        if (ns?.metadata.deletionTimestamp && figures['close → namespace deleting'] === undefined)
          figures['close → namespace deleting'] = since();
        return ns === undefined;
      },
      300_000,
    );
    figures['close → namespace gone'] = since();
    const closed = await env.waitForChannel(
      name,
      'Closed',
      (c) => (c.status?.phase === 'Closed' ? c : undefined),
      60_000,
    );
    assert.equal(
      conditionOf(closed, 'EvidenceArchived')?.status,
      'True',
      conditionOf(closed, 'EvidenceArchived')?.message,
    );
    const location = closed.status?.archive?.location ?? '';
    assert.ok(location.startsWith(`${EVIDENCE_MOUNT}/`), location);
    assert.match(closed.status?.archive?.sha256 ?? '', /^[0-9a-f]{64}$/);

    // Nothing of the namespace is left on the node (the kubelet's container GC removes dead containers of deleted pods).
    await eventually(
      'no container of the namespace left in containerd',
      async () => (await env.anythingOf(namespace)).length === 0,
      180_000,
    );

    // The archive, read from the evidence PV's directory on the host, with the operator's own public key.
    const hostDir = await env.evidenceHostDir();
    archivePath = join(hostDir, relative(EVIDENCE_MOUNT, location));
    assert.ok(existsSync(archivePath), `${archivePath} exists on the host`);
    // The chart keeps the operator's signing key on the same volume (no existingSecret): its public half pins verify.
    // The transcript: every message sent (before and after the Synapse kill) exactly once, decrypted; no event twice.
    await assertVerifiedTranscript({ archive: archivePath, signingKey: join(hostDir, 'signing-key.pem'), work, sent });
  });
});

async function roomIdOf(synapse: string, user: SdkUser, alias: string): Promise<string> {
  const server = user.userId.slice(user.userId.indexOf(':') + 1);
  const res = await matrixRequest<{ room_id: string }>(
    synapse,
    'GET',
    `/_matrix/client/v3/directory/room/${encodeURIComponent(`#${alias}:${server}`)}`,
    { accessToken: user.accessToken },
  );
  return res.room_id;
}

async function jobName(env: WarRoomEnv, namespace: string): Promise<string> {
  const jobs = await env.k.getJson<{ items: { metadata: { name: string } }[] }>(['-n', namespace, 'jobs']);
  const n = jobs?.items[0]?.metadata.name;
  assert.ok(n, 'a provisioning Job exists');
  return n;
}

async function restartCount(env: WarRoomEnv, namespace: string, container: string): Promise<number> {
  const pod = await env.k.getJson<{ status: { containerStatuses?: { name: string; restartCount: number }[] } }>([
    '-n',
    namespace,
    'pod',
    'synapse-0',
  ]);
  return pod?.status.containerStatuses?.find((c) => c.name === container)?.restartCount ?? 0;
}

async function podReady(env: WarRoomEnv, namespace: string): Promise<boolean> {
  const pod = await env.k.getJson<{ status: { conditions?: { type: string; status: string }[] } }>([
    '-n',
    namespace,
    'pod',
    'synapse-0',
  ]);
  return !!pod?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The operator reads the recorder's figures when it reconciles: a metadata change makes it look now. */
async function pokeUntil<T>(env: WarRoomEnv, name: string, what: string, ok: (c: Channel) => T | undefined) {
  return eventually(
    what,
    async () => {
      await env.k.exec(['annotate', 'incidentchannel', name, `warroom.dev/poke=${Date.now()}`, '--overwrite']);
      await new Promise((r) => setTimeout(r, 1000));
      const c = await env.channel(name);
      return c && ok(c);
    },
    60_000,
  );
}
