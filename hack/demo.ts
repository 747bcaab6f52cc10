// npm run demo — a newcomer's tour of the war room on a REAL node (root on Linux): builds the images (cached), starts
// a real-node cluster, installs the sealed-secrets controller and the operator with their charts, applies
// examples/minimal.yaml, logs a participant in from this machine, sends a message the recorder keeps, closes the case
// and prints a timeline. Everything it started is stopped at the end (or on Ctrl-C): nothing is left behind.

import type { SdkUser } from '../test/support/matrix-sdk-client.ts';
import {
  conditionOf,
  joinOps,
  startParticipant,
  startWarRoomEnv,
  uniqueChannelName,
  type WarRoomEnv,
} from '../test/support/real-node-warroom.ts';
import { realNodeUnsupportedReason } from './cluster/real-node.ts';

const unsupported = realNodeUnsupportedReason();
if (unsupported) {
  console.error(`demo: ${unsupported}`);
  process.exit(2);
}

const started = performance.now();
const clock = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s`;
const timeline: string[] = [];
const step = (m: string) => {
  const line = `${clock()}  ${m}`;
  timeline.push(line);
  console.log(line);
};
const detail = (m: string) => console.log(`          ${m}`);
const quiet = process.env.DEMO_VERBOSE ? undefined : () => {};

let env: WarRoomEnv | undefined;
let user: SdkUser | undefined;
let stopping = false;
const cleanup = async () => {
  if (stopping) return;
  stopping = true;
  await user?.stop().catch(() => {});
  await env?.stop();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.log('\ninterrupted: stopping the cluster…');
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  console.log('warroom demo: a war room on a real local node (kubelet + containerd), start to finish\n');
  step('building or finding the images, starting the real node, installing sealed-secrets and the operator…');
  env = await startWarRoomEnv({ log: quiet });
  const e = env;
  detail(
    e.imagesBuilt.length > 0
      ? `images built: ${e.imagesBuilt.join(', ')} (${e.imageSeconds.toFixed(0)} s)`
      : 'images: all from the cache',
  );
  detail(`kubectl --kubeconfig ${e.cluster.kubeconfig} get pods -A   (while the demo runs)`);
  step('operator and sealed-secrets controller running');

  const name = uniqueChannelName('demo');
  const applied = performance.now();
  await e.k.apply(e.channelManifest(name));
  step(`applied IncidentChannel ${name} (examples/minimal.yaml: participants falcon and heron)`);
  const ready = await e.waitForChannel(name, 'Ready', (c) => (c.status?.phase === 'Ready' ? c : undefined), 600_000);
  const namespace = ready.status?.namespace ?? '';
  step(`Ready after ${((performance.now() - applied) / 1000).toFixed(1)} s: namespace ${namespace}`);
  for (const type of ['SynapseReady', 'UsersProvisioned', 'TurnReady', 'Recording']) {
    const c = conditionOf(ready, type);
    if (c) detail(`${type}=${c.status}: ${c.message}`);
  }

  const url = await e.synapseUrl(namespace);
  user = await startParticipant(e, namespace, 'falcon');
  const ops = await joinOps(e, namespace, user);
  step(`falcon logged in at ${url} (password from the unsealed Secret), joined #ops`);
  detail(`#ops end-to-end encrypted: ${await user.isEncryptionEnabled(ops)}`);
  const before = (await e.recorderStatus(namespace)).events;
  const sentAt = performance.now();
  await user.sendText(ops, 'containment: the jump host is off the network');
  const deadline = Date.now() + 60_000;
  while ((await e.recorderStatus(namespace)).events <= before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const recorded = (await e.recorderStatus(namespace)).events > before;
  step(
    recorded
      ? `first message sent and in the transcript after ${((performance.now() - sentAt) / 1000).toFixed(1)} s`
      : 'first message sent, but the recorder did not show it within 60 s',
  );
  await user.stop();
  user = undefined;

  const closing = performance.now();
  await e.k.exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  step('closed the case (spec.closed: true)');
  const closed = await e.waitForChannel(name, 'Closed', (c) => (c.status?.phase === 'Closed' ? c : undefined), 300_000);
  const archived = conditionOf(closed, 'EvidenceArchived');
  detail(`EvidenceArchived=${archived?.status}: ${archived?.message}`);
  detail(`archive: ${closed.status?.archive?.location} (sha256 ${closed.status?.archive?.sha256?.slice(0, 16)}…)`);
  const gone = Date.now() + 300_000;
  while ((await e.k.getJson(['namespace', namespace])) !== undefined && Date.now() < gone) {
    await new Promise((r) => setTimeout(r, 250));
  }
  step(`namespace ${namespace} gone ${((performance.now() - closing) / 1000).toFixed(1)} s after the close`);

  step('stopping the cluster (containers, mounts, bridge, iptables chains)…');
  await cleanup();
  step('done: nothing left behind');
  console.log(`\ntimeline\n${timeline.join('\n')}`);
} catch (err) {
  console.error(`\ndemo failed: ${(err as Error).message}`);
  if (env) console.error(`operator log (last lines):\n${(await env.operatorLog()).split('\n').slice(-20).join('\n')}`);
  await cleanup().catch((e: Error) => console.error(`clean-up: ${e.message}`));
  process.exit(1);
}
