// npm run bench -- operator-memory: where the operator's memory goes at BENCH_LIVE (default 500) live channels, no
// heap cap. The operator runs as a child process with its defaults except a short resync (--resync-period=30s), and
// with the runtime environment the image gives it (the Dockerfile's ENV NODE_OPTIONS / MALLOC_*), so the figure is
// taken after a full relist of every cache, as the issue asks. Prints RSS (anonymous / file-backed) and
// process.memoryUsage() / V8 heap spaces with no channels and at BENCH_LIVE Ready channels, the peak while they were
// built, what each module adds at import, and a heap snapshot (--heapsnapshot-signal) summarised by what holds it.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toJavaScript } from '../hack/build-dist.ts';
import { startCluster } from '../hack/cluster/local-cluster.ts';
import { freePort } from '../hack/cluster/processes.ts';
import { describeCluster } from '../test/cluster/index.ts';
import { kubectl } from '../test/support/kubectl.ts';
import { installCrd, kwokEvidenceFlags, testShard } from '../test/support/operator.ts';
import type { MemorySample } from './support/operator-memory-sampler.ts';
import { runtimeEnvOfImage, spawnOperator } from './support/operator-process.ts';

// main.ts's imports for the operator, and the packages under them, in load order (measured from dist/, as run).
const OPERATOR_IMPORTS = [
  'zod',
  '../src/config.ts',
  'pino',
  '../src/observability/logger.ts',
  '../src/kube/rest.ts',
  '../src/kube/client.ts',
  'fastify',
  '@fastify/swagger',
  '../src/http/server.ts',
  '../src/http/auth.ts',
  'prom-client',
  '../src/observability/metrics.ts',
  '../src/controllers/incidentchannel/reconciler.ts',
  '@aws-sdk/client-s3',
  '../src/evidence/from-config.ts',
  '../src/operator.ts',
];
const LIVE = Number(process.env.BENCH_LIVE ?? 500);
const RESYNC_S = 30;
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
const samples = join(work, 'memory-samples.jsonl');
// BENCH_WITHOUT=MALLOC_ARENA_MAX (comma-separated) measures the effect of one of the image's settings.
const imageEnv = Object.fromEntries(
  Object.entries(runtimeEnvOfImage()).filter(([k]) => !(process.env.BENCH_WITHOUT ?? '').split(',').includes(k)),
);
/** A bench helper as JavaScript in the work dir: a .ts would load Node's type stripper, which the image does not. */
function asJavaScript(name: string): string {
  const out = join(work, basename(name).replace(/\.ts$/, '.mjs'));
  writeFileSync(out, toJavaScript(readFileSync(fileURLToPath(new URL(`./${name}`, import.meta.url)), 'utf8')));
  return out;
}
const operator = spawnOperator(
  ['--heapsnapshot-signal=SIGUSR2', `--import=${asJavaScript('support/operator-memory-sampler.ts')}`],
  [
    `--kubeconfig=${cluster.kubeconfig}`,
    `--channel-selector=${shard.selector}`,
    '--log-level=warn',
    `--resync-period=${RESYNC_S}s`,
    `--http-port=${port}`,
    '--http-address=127.0.0.1',
    '--secrets=plain',
    ...kwokEvidenceFlags(work),
  ],
  { cwd: work, env: { ...imageEnv, MEMORY_SAMPLES: samples } },
);

function lastSample(): MemorySample {
  const lines = readFileSync(samples, 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as MemorySample;
}

function allSamples(): MemorySample[] {
  return readFileSync(samples, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MemorySample);
}

function breakdown(label: string, s: MemorySample): string {
  const spaces = Object.entries(s.spaces)
    .filter(([, v]) => v.size >= 1048576 / 10)
    .map(([name, v]) => `${name} ${mib(v.used)}/${mib(v.size)}`)
    .join(', ');
  return (
    `${label}: RSS ${mib(s.rss)} (anonymous ${mib(s.anon)}, file-backed ${mib(s.fileBacked)}); ` +
    `V8 heap used ${mib(s.heapUsed)} of ${mib(s.heapTotal)} allocated; external ${mib(s.external)} ` +
    `(ArrayBuffers ${mib(s.arrayBuffers)}); RSS outside V8's heap ${mib(s.anon - s.heapTotal)} anonymous\n` +
    `  heap spaces used/allocated: ${spaces}`
  );
}

/**
 * The operator's RSS by kind of mapping (/proc/<pid>/smaps): glibc's main arena ([heap]), glibc's thread arenas
 * (anonymous read-write mappings starting on a 64 MiB boundary, the size glibc reserves per arena; a heuristic),
 * other anonymous memory (V8's heap pages, mmapped large allocations, thread stacks), and file-backed pages.
 */
function rssByMapping(pid: number): string {
  const ARENA = 64 * 1048576;
  // V8 maps its heap in 256 KiB-aligned pages (multiples for large objects); glibc's mmapped chunks and thread
  // stacks are page-aligned only. A heuristic too, but it tells V8's pages, counted in heapTotal or not, from malloc.
  const V8_PAGE = 256 * 1024;
  const out = { mainArena: 0, threadArenas: 0, arenaCount: 0, v8Pages: 0, otherAnon: 0, fileBacked: 0 };
  const largestOther: { size: number; rss: number }[] = [];
  let current: { start: number; anon: boolean; heap: boolean; rw: boolean; size: number } | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const start = Number.parseInt(head[1] ?? '0', 16);
      const path = head[4] ?? '';
      current = {
        start,
        anon: path === '' || path.startsWith('['),
        heap: path === '[heap]',
        rw: (head[3] ?? '').startsWith('rw'),
        size: Number.parseInt(head[2] ?? '0', 16) - start,
      };
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss || !current) continue;
    const bytes = Number(rss[1]) * 1024;
    if (current.heap) out.mainArena += bytes;
    else if (!current.anon) out.fileBacked += bytes;
    else if (current.rw && current.start % ARENA === 0 && current.size <= ARENA) {
      out.threadArenas += bytes;
      out.arenaCount++;
    } else if (current.start % V8_PAGE === 0 && current.size % V8_PAGE === 0) out.v8Pages += bytes;
    else {
      out.otherAnon += bytes;
      largestOther.push({ size: current.size, rss: bytes });
    }
  }
  const largest = largestOther
    .sort((a, b) => b.rss - a.rss)
    .slice(0, 5)
    .map((m) => `${mib(m.rss)} of ${mib(m.size)}`)
    .join(', ');
  return (
    `glibc main arena ${mib(out.mainArena)}, glibc thread arenas ${mib(out.threadArenas)} (${out.arenaCount}), ` +
    `V8-page-aligned anonymous ${mib(out.v8Pages)}, other anonymous (mmapped allocations, stacks) ` +
    `${mib(out.otherAnon)} (largest: ${largest}), file-backed ${mib(out.fileBacked)}`
  );
}

async function relists(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^warroom_reflector_relists_total\{resource="([^"]+)"\} (\S+)$/gm)) {
    out.set(m[1] ?? '', Number(m[2]));
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
const floor = lastSample();
const floorMappings = rssByMapping(operator.pid ?? 0);
log(`no channels: RSS ${mib(floor.rss)}`);
const buildStarted = Date.now();

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
const builtIn = Date.now() - buildStarted;
const cpuBuilding = lastSample().cpuMs - floor.cpuMs;
// A full resync: every reflector has relisted at least once since the last channel became Ready.
const before = await relists();
log(`${ready}/${LIVE} Ready; waiting for every cache to relist (--resync-period=${RESYNC_S}s)`);
const resyncDeadline = Date.now() + (2 * RESYNC_S + 120) * 1000;
let stale: string[] = [...before.keys()];
while (Date.now() < resyncDeadline && stale.length > 0) {
  await sleep(2000);
  const now = await relists();
  stale = [...before].filter(([resource, n]) => (now.get(resource) ?? 0) <= n).map(([resource]) => resource);
}
await sleep(10_000);
const live = lastSample();
const afterBuild = allSamples().find((x) => x.t >= buildStarted + builtIn) ?? live;
const cpuResync = live.cpuMs - afterBuild.cpuMs;
const resyncSeconds = (live.t - afterBuild.t) / 1000;
const liveMappings = rssByMapping(operator.pid ?? 0);
const peak = allSamples()
  .filter((s) => s.t >= buildStarted)
  .reduce((a, b) => (b.rss > a.rss ? b : a), live);
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
  `operator-memory: ${ready}/${LIVE} channels Ready in ${(builtIn / 1000).toFixed(0)} s ` +
    `(operator CPU ${(cpuBuilding / 1000).toFixed(1)} s; then ${(cpuResync / 1000).toFixed(1)} s in the ` +
    `${resyncSeconds.toFixed(0)} s of resyncs until the figure below); ` +
    (stale.length === 0
      ? `every cache relisted after that (--resync-period=${RESYNC_S}s)`
      : `NOT relisted within the wait: ${stale.join(', ')}`) +
    `; no heap cap; image environment: ${JSON.stringify(imageEnv)}`,
);
console.log(breakdown('no channels', floor));
console.log(`  RSS by mapping: ${floorMappings}`);
console.log(breakdown(`${ready} Ready channels, after the resync`, live));
console.log(`  RSS by mapping: ${liveMappings}`);
console.log(breakdown(`peak while building them (${new Date(peak.t).toISOString().slice(11, 19)})`, peak));
console.log("what each module adds at import, in the operator's load order:");
const imports = spawnSync(
  process.execPath,
  [
    '--expose-gc',
    asJavaScript('support/operator-memory-imports.ts'),
    // What the image loads: dist/ (built by spawnOperator), packages resolved from here (the script is in work/).
    ...OPERATOR_IMPORTS.map((m) =>
      m.startsWith('.')
        ? fileURLToPath(new URL(m.replace(/^\.\.\/src\//, '../dist/').replace(/\.ts$/, '.js'), import.meta.url))
        : import.meta.resolve(m),
    ),
  ],
  { encoding: 'utf8', env: { ...process.env, ...imageEnv } },
);
process.stdout.write(imports.stdout + imports.stderr);

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
