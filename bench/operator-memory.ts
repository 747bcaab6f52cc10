// npm run bench -- operator-memory: where the operator's memory goes at BENCH_LIVE (default 500) live channels, no
// heap cap. The operator runs as a child process with its defaults except a short resync (--resync-period=30s), so
// the figure is taken after a full relist of every cache, as the issue asks. Prints RSS (anonymous / file-backed)
// with no channels and at BENCH_LIVE Ready channels, V8's heap figures, and a heap snapshot (--heapsnapshot-signal)
// summarised by what holds the bytes.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../hack/cluster/local-cluster.ts';
import { freePort } from '../hack/cluster/processes.ts';
import { describeCluster } from '../test/cluster/index.ts';
import { kubectl } from '../test/support/kubectl.ts';
import { installCrd, kwokEvidenceFlags, testShard } from '../test/support/operator.ts';

const LIVE = Number(process.env.BENCH_LIVE ?? 500);
const RESYNC_S = 30;
// BENCH_OPERATOR_MAIN=/path/to/other/checkout/src/main.ts measures another version with the same bench (before/after).
const MAIN = process.env.BENCH_OPERATOR_MAIN ?? fileURLToPath(new URL('../src/main.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`[operator-memory ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

const local = await startCluster({ log: () => {} });
const cluster = describeCluster(local);
const k = kubectl(cluster);
await installCrd(cluster);
const shard = testShard();
const work = await mkdtemp(join(tmpdir(), 'warroom-bench-memory-'));
const port = await freePort();
const operator = spawn(
  'setpriv',
  [
    '--pdeathsig',
    'KILL',
    '--',
    process.execPath,
    '--heapsnapshot-signal=SIGUSR2',
    MAIN,
    'operator',
    `--kubeconfig=${cluster.kubeconfig}`,
    `--channel-selector=${shard.selector}`,
    '--log-level=warn',
    `--resync-period=${RESYNC_S}s`,
    `--http-port=${port}`,
    '--http-address=127.0.0.1',
    '--secrets=plain',
    ...kwokEvidenceFlags(work),
  ],
  { stdio: ['ignore', 'ignore', 'inherit'], cwd: work },
);

function rss(): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${operator.pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
}

async function v8Figures(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m =
      /^(nodejs_heap_size_used_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|nodejs_heap_space_size_used_bytes\{space="[a-z_]+"\}) (\S+)$/.exec(
        line,
      );
    if (m?.[1]) out[m[1]] = Number(m[2]);
  }
  return out;
}

// Floor: caches synced, no channels.
for (let i = 0; i < 300; i++) {
  const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
    (r) => r.ok,
    () => false,
  );
  if (ok) break;
  await sleep(200);
}
await sleep(RESYNC_S * 1000 + 5000);
const floor = rss();
log(`no channels: RSS ${mib(floor.rss)}`);

for (let i = 0; i < LIVE; i += 50) {
  const items = Array.from({ length: Math.min(50, LIVE - i) }, (_, j) => {
    const name = `mem-${i + j}`;
    return {
      apiVersion: 'warroom.dev/v1alpha1',
      kind: 'IncidentChannel',
      metadata: { name, labels: { [shard.label]: shard.value } },
      // Calls off unless BENCH_CALLS=on: each war room with calls holds 10 of the cluster's 2 768 NodePorts, so no
      // cluster runs 500 of them (276 fit; the rest are Stalled RelayPortsExhausted).
      spec: {
        caseId: name,
        ttl: '72h',
        participants: [{ handle: 'falcon', role: 'lead' }],
        calls: { enabled: process.env.BENCH_CALLS === 'on' },
      },
    };
  });
  await k.apply({ apiVersion: 'v1', kind: 'List', items });
}
const deadline = Date.now() + 20 * 60_000;
let ready = 0;
while (Date.now() < deadline) {
  const list =
    (await k.getJson<{ items: { status?: { phase?: string } }[] }>(['incidentchannels', '-l', shard.selector]))
      ?.items ?? [];
  ready = list.filter((c) => c.status?.phase === 'Ready').length;
  if (ready >= LIVE) break;
  await sleep(5000);
}
log(`${ready}/${LIVE} Ready; waiting for a full resync (${RESYNC_S} s)`);
await sleep(RESYNC_S * 1000 + 10_000);
const live = rss();
const heap = await v8Figures();
operator.kill('SIGUSR2');
let snapshot: string | undefined;
for (let i = 0; i < 600 && !snapshot; i++) {
  await sleep(500);
  const file = readdirSync(work).find((f) => f.endsWith('.heapsnapshot'));
  if (!file) continue;
  const size = statSync(join(work, file)).size;
  await sleep(1000);
  if (size > 0 && statSync(join(work, file)).size === size) snapshot = join(work, file);
}
operator.kill('SIGTERM');
await new Promise((r) => operator.once('exit', r));
await local.stop();

console.log(
  `operator-memory: ${ready}/${LIVE} channels Ready, after a full resync (--resync-period=${RESYNC_S}s), no heap cap`,
);
console.log(`RSS with no channels: ${mib(floor.rss)} (anonymous ${mib(floor.anon)}, file-backed ${mib(floor.file)})`);
console.log(
  `RSS with ${ready} Ready channels: ${mib(live.rss)} (anonymous ${mib(live.anon)}, file-backed ${mib(live.file)})`,
);
console.log(
  `V8: heap used ${mib(heap.nodejs_heap_size_used_bytes ?? 0)} of ${mib(heap.nodejs_heap_size_total_bytes ?? 0)} ` +
    `allocated; external (Buffers etc.) ${mib(heap.nodejs_external_memory_bytes ?? 0)}; by space: ` +
    Object.entries(heap)
      .filter(([key]) => key.includes('space='))
      .map(([key, v]) => `${/space="([a-z_]+)"/.exec(key)?.[1]} ${mib(v)}`)
      .join(', '),
);

if (snapshot) {
  // .heapsnapshot: nodes is a flat array of node_fields; aggregate self sizes by (type, name).
  const snap = JSON.parse(readFileSync(snapshot, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byKey = new Map<string, { bytes: number; count: number }>();
  const byType = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] ?? 0] ?? '?';
    const size = snap.nodes[i + sizeAt] ?? 0;
    const rawName = snap.strings[snap.nodes[i + nameAt] ?? 0] ?? '';
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '(strings)' : rawName;
    const key = `${type}: ${name.slice(0, 60)}`;
    const e = byKey.get(key) ?? { bytes: 0, count: 0 };
    e.bytes += size;
    e.count++;
    byKey.set(key, e);
    byType.set(type, (byType.get(type) ?? 0) + size);
    total += size;
  }
  console.log(`heap snapshot: ${mib(total)} in ${(snap.nodes.length / width).toFixed(0)} objects; by kind:`);
  for (const [type, bytes] of [...byType].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    console.log(`  ${mib(bytes).padStart(10)}  ${type}`);
  }
  console.log('largest groups (type: constructor or name):');
  for (const [key, e] of [...byKey].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 20)) {
    console.log(`  ${mib(e.bytes).padStart(10)}  ${String(e.count).padStart(8)}×  ${key}`);
  }
} else {
  console.log('heap snapshot: not written');
}
