// The war room on a real node (root only): apply → Ready with the images cached (the time a SOC waits for its room;
// goal ≤ 60 s), close → namespace gone (archive sealed, signed, stored, verified, then the namespace deleted), and
// the image build time (the first ensureImages call of the run: a cold build on a fresh machine, else cache lookups).
// BENCH_RUNS (default 3) channels one after the other on one cluster with the operator installed by its chart.
import { readFileSync } from 'node:fs';
import { realNodeUnsupportedReason } from '../hack/cluster/real-node.ts';
import { conditionOf, startWarRoomEnv, uniqueChannelName } from '../test/support/real-node-warroom.ts';

const unsupported = realNodeUnsupportedReason();
if (unsupported) {
  console.error(`real-node-warroom: ${unsupported}`);
  process.exit(2);
}
const runs = Number(process.env.BENCH_RUNS ?? 3);
const setupStarted = performance.now();
const env = await startWarRoomEnv({ log: () => {} });
const setup = (performance.now() - setupStarted) / 1000;
// The cold build time: each image's own build seconds, as recorded in the cache's metadata when it was built.
const buildSeconds = Object.entries(env.images).map(([n, i]) => {
  const meta = JSON.parse(readFileSync(i.archive.replace(/\.tar$/, '.json'), 'utf8')) as { seconds: number };
  return [n, i.built ? i.seconds : meta.seconds] as const;
});
console.log(
  `images: ensureImages took ${env.imageSeconds.toFixed(1)} s now (${env.imagesBuilt.length > 0 ? `built: ${env.imagesBuilt.join(', ')}` : 'all cached'}); ` +
    `cold build ${buildSeconds.reduce((a, [, s]) => a + s, 0).toFixed(0)} s in all (${buildSeconds.map(([n, s]) => `${n} ${s.toFixed(1)}`).join(', ')})`,
);
console.log(`set-up (cluster + sealed-secrets + operator): ${setup.toFixed(1)} s  ${JSON.stringify(env.timings)}`);

const rows: { ready: number; gone: number }[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const name = uniqueChannelName('bench');
    const applied = performance.now();
    await env.k.apply(env.channelManifest(name));
    const ready = await env.waitForChannel(
      name,
      'Ready',
      (c) => (c.status?.phase === 'Ready' ? c : undefined),
      600_000,
    );
    const readyS = (performance.now() - applied) / 1000;
    const namespace = ready.status?.namespace ?? '';
    const closing = performance.now();
    await env.k.exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
    const closed = await env.waitForChannel(
      name,
      'Closed',
      (c) => (c.status?.phase === 'Closed' ? c : undefined),
      300_000,
    );
    const deadline = Date.now() + 300_000;
    while ((await env.k.getJson(['namespace', namespace])) !== undefined) {
      if (Date.now() > deadline) throw new Error(`namespace ${namespace} still there 300 s after the close`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const goneS = (performance.now() - closing) / 1000;
    rows.push({ ready: readyS, gone: goneS });
    console.log(
      `channel ${i + 1}: apply → Ready ${readyS.toFixed(1)} s, close → namespace gone ${goneS.toFixed(1)} s ` +
        `(EvidenceArchived=${conditionOf(closed, 'EvidenceArchived')?.status})`,
    );
  }
} finally {
  await env.stop();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ready = median(rows.map((r) => r.ready));
console.log(
  `real-node-warroom: median over ${rows.length}: apply → Ready ${ready.toFixed(1)} s (goal ≤ 60 s: ${ready <= 60 ? 'met' : 'MISSED'}), ` +
    `close → namespace gone ${median(rows.map((r) => r.gone)).toFixed(1)} s`,
);
