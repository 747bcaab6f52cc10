// npm run bench -- steady-state: what the operator costs the apiserver when nothing changes, read from an apiserver
// audit log restricted to the operator's own user (the way a platform team would find out), for
//   (a) N Ready channels and (b) N channels stuck in Provisioning, at N = 20 and 200 (BENCH_SIZES=20,200);
// then the operator image's size per layer (the Dockerfile's, from the archive hack/images builds) and what the
// production dependencies weigh on disk. Goal: ≤ 15 requests/min in both cases whatever N, and 0 writes.
//
// Stuck, on kwok: every kwok node is cordoned before the stuck channels are created, so their pods stay Pending
// (Unschedulable) — the "full node" case of the issue. kwok marks any pod Running whatever its image, so an image
// that cannot be pulled would never be stuck here; an unschedulable pod is stuck for the same reason the operator
// sees in both (a workload that never becomes available), and it is how a cluster that is full looks.
//
// The operator runs as its own ServiceAccount (bound to cluster-admin: this measures requests, not RBAC), with its
// defaults (leader election on, 10 min resync), as a child process. Each scenario is measured over BENCH_WINDOW_S
// (default 90 s) after the channels have settled; requests are counted by when the apiserver received them.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderKubeconfig, startCluster } from '../hack/cluster/local-cluster.ts';
import { ensureImages } from '../hack/images/build.ts';
import { describeCluster } from '../test/cluster/index.ts';
import { kubectl } from '../test/support/kubectl.ts';
import { installCrd, kwokEvidenceFlags, testShard } from '../test/support/operator.ts';
import { spawnOperator } from './support/operator-process.ts';

const SIZES = (process.env.BENCH_SIZES ?? '20,200').split(',').map(Number);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 90);
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 20);
const STALL_S = Number(process.env.BENCH_SETTLE_STALL_S ?? 90);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SA_NAMESPACE = 'warroom-system';
const SA = 'warroom-operator';
const OPERATOR_USER = `system:serviceaccount:${SA_NAMESPACE}:${SA}`;
const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`[steady-state ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

// ---- cluster, with the operator's user audited
const local = await startCluster({ audit: { users: [OPERATOR_USER] }, log: () => {} });
const auditLog = local.auditLog ?? '';
const cluster = describeCluster(local);
const k = kubectl(cluster);
await installCrd(cluster);
await k.exec(['create', 'serviceaccount', SA, '-n', SA_NAMESPACE]);
await k.exec([
  'create',
  'clusterrolebinding',
  SA,
  '--clusterrole=cluster-admin',
  `--serviceaccount=${SA_NAMESPACE}:${SA}`,
]);
const token = (await k.exec(['create', 'token', SA, '-n', SA_NAMESPACE, '--duration=6h'])).trim();
const kubeconfig = join(local.dir, 'operator.kubeconfig');
await writeFile(kubeconfig, renderKubeconfig(cluster.server, cluster.caPem, token, SA), { mode: 0o600 });

interface Channel {
  metadata: { name: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] };
}

function startOperator(selector: string) {
  return spawnOperator(
    [],
    [
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${SA_NAMESPACE}`,
      `--channel-selector=${selector}`,
      '--log-level=warn',
      '--http-port=0',
      '--secrets=plain',
      ...kwokEvidenceFlags(join(local.dir, `evidence-${selector.split('=')[1]}`)),
    ],
  );
}

async function createChannels(shard: ReturnType<typeof testShard>, prefix: string, from: number, to: number) {
  const items = [];
  for (let i = from; i < to; i++) {
    const name = `${prefix}-${i}`;
    items.push({
      apiVersion: 'warroom.dev/v1alpha1',
      kind: 'IncidentChannel',
      metadata: { name, labels: { [shard.label]: shard.value } },
      spec: { caseId: name, ttl: '72h', participants: [{ handle: 'falcon', role: 'lead' }] },
    });
  }
  for (let i = 0; i < items.length; i += 50)
    await k.apply({ apiVersion: 'v1', kind: 'List', items: items.slice(i, i + 50) });
}

/**
 * Waits until every channel is settled, or until nothing has changed for BENCH_SETTLE_STALL_S (a channel the
 * operator cannot finish, e.g. an apply the apiserver keeps refusing, stays as it is). Returns what it saw.
 */
async function waitChannels(selector: string, n: number, settled: (c: Channel) => boolean): Promise<string> {
  const deadline = Date.now() + 20 * 60_000;
  let last = '';
  let since = Date.now();
  for (;;) {
    const list = (await k.getJson<{ items: Channel[] }>(['incidentchannels', '-l', selector]))?.items ?? [];
    const byState = new Map<string, number>();
    for (const c of list) {
      // A stalled channel's Ready reason is only "Stalled": the Stalled condition says why.
      const why =
        c.status?.conditions?.find((x) => x.type === 'Stalled' && x.status === 'True')?.reason ??
        c.status?.conditions?.find((x) => x.type === 'Ready' && x.status !== 'True')?.reason;
      const state = `${c.status?.phase ?? 'no status'}${why && c.status?.phase !== 'Ready' ? `/${why}` : ''}`;
      byState.set(state, (byState.get(state) ?? 0) + 1);
    }
    const summary = [...byState].map(([state, count]) => `${count} ${state}`).join(', ');
    if (list.filter(settled).length >= n) return summary;
    if (summary !== last) {
      last = summary;
      since = Date.now();
    }
    if (Date.now() - since > STALL_S * 1000 || Date.now() > deadline) {
      log(`not every channel settles (${summary}); measuring as it is`);
      return summary;
    }
    await sleep(5000);
  }
}

interface AuditEvent {
  verb: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string };
  requestURI: string;
  requestReceivedTimestamp: string;
}

function countRequests(from: number, to: number) {
  const counts = new Map<string, number>();
  for (const line of readFileSync(auditLog, 'utf8').split('\n')) {
    if (!line) continue;
    const ev = JSON.parse(line) as AuditEvent;
    if (ev.user?.username !== OPERATOR_USER) continue;
    const at = Date.parse(ev.requestReceivedTimestamp);
    if (at < from || at >= to) continue;
    const resource = ev.objectRef?.resource
      ? `${ev.objectRef.resource}${ev.objectRef.subresource ? `/${ev.objectRef.subresource}` : ''}`
      : ev.requestURI.split('?')[0];
    const key = `${ev.verb} ${resource}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

interface Row {
  scenario: string;
  /** What the channels were during the window (phase / Ready reason). */
  states: string;
  perMin: number;
  perMinNoLease: number;
  writes: number;
  writesNoLease: number;
  detail: string;
}
const rows: Row[] = [];

async function measure(scenario: string, states: string): Promise<void> {
  log(`${scenario}: settled; measuring ${WINDOW_S} s`);
  const from = Date.now();
  await sleep(WINDOW_S * 1000);
  const to = Date.now();
  await sleep(2000); // the audit backend writes when the response completes
  const counts = countRequests(from, to);
  const minutes = (to - from) / 60_000;
  let total = 0;
  let lease = 0;
  let writes = 0;
  let leaseWrites = 0;
  for (const [key, n] of counts) {
    const [verb = '', resource = ''] = key.split(' ');
    total += n;
    if (resource === 'leases') lease += n;
    if (WRITES.has(verb)) {
      writes += n;
      if (resource === 'leases') leaseWrites += n;
    }
  }
  const detail = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${(n / minutes).toFixed(1)}`)
    .join(', ');
  rows.push({
    scenario,
    states,
    perMin: total / minutes,
    perMinNoLease: (total - lease) / minutes,
    writes,
    writesNoLease: writes - leaseWrites,
    detail,
  });
  log(`${scenario}: ${(total / minutes).toFixed(1)} requests/min`);
}

const isReady = (c: Channel) => c.status?.phase === 'Ready';
// Stuck: every child applied (the status after the last apply carries SecretsSealed) and still Provisioning.
const isStuck = (c: Channel) =>
  c.status?.phase === 'Provisioning' && (c.status.conditions ?? []).some((x) => x.type === 'SecretsSealed');

// ---- (a) Ready
{
  const shard = testShard();
  const operator = startOperator(shard.selector);
  let made = 0;
  for (const n of SIZES) {
    await createChannels(shard, 'ready', made, n);
    made = n;
    const states = await waitChannels(shard.selector, n, isReady);
    await sleep(SETTLE_S * 1000);
    await measure(`${n} Ready`, states);
  }
  operator.kill('SIGTERM');
  await new Promise((r) => operator.once('exit', r));
}

// ---- (b) stuck: no schedulable node
{
  await k.exec(['cordon', '-l', 'type=kwok']);
  const shard = testShard();
  const operator = startOperator(shard.selector);
  let made = 0;
  for (const n of SIZES) {
    await createChannels(shard, 'stuck', made, n);
    made = n;
    const states = await waitChannels(shard.selector, n, isStuck);
    await sleep(SETTLE_S * 1000);
    await measure(`${n} stuck (Pending: no schedulable node)`, states);
  }
  const sample = (await k.getJson<{ items: Channel[] }>(['incidentchannels', '-l', shard.selector]))?.items[0];
  const why = sample?.status?.conditions?.find((c) => c.status === 'False' && c.type === 'Ready');
  log(`a stuck channel's Ready condition: ${why?.reason ?? '(none)'}`);
  operator.kill('SIGTERM');
  await new Promise((r) => operator.once('exit', r));
}
await local.stop();

console.log(
  `steady-state: operator's own requests (audit log, user ${OPERATOR_USER}), ${WINDOW_S} s per scenario after ${SETTLE_S} s settling, operator defaults (leader election on)`,
);
console.log(
  'scenario'.padEnd(44),
  'req/min'.padStart(8),
  'w/o Lease'.padStart(10),
  'writes'.padStart(7),
  'w/o Lease'.padStart(10),
);
for (const r of rows) {
  console.log(
    r.scenario.padEnd(44),
    r.perMin.toFixed(1).padStart(8),
    r.perMinNoLease.toFixed(1).padStart(10),
    String(r.writes).padStart(7),
    String(r.writesNoLease).padStart(10),
  );
}
console.log('per verb and resource (requests/min):');
for (const r of rows) console.log(`  ${r.scenario} [${r.states}]: ${r.detail}`);

// ---- the image, per layer
try {
  const image = (await ensureImages(['operator'])).operator;
  const tar = (args: string[]) => spawnSync('tar', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const manifest = JSON.parse(tar(['-xOf', image.archive, 'manifest.json']).stdout) as {
    Config: string;
    Layers: string[];
  }[];
  const entry = manifest[0];
  if (!entry) throw new Error('empty manifest.json');
  const config = JSON.parse(tar(['-xOf', image.archive, entry.Config]).stdout) as {
    history?: { created_by?: string; empty_layer?: boolean }[];
  };
  // Layers pair with the history entries not flagged empty. A base image built by hack/images flags its last,
  // metadata-only step (CMD) as the one that made its layer: name it as the base's layer.
  const steps = (config.history ?? [])
    .filter((h) => !h.empty_layer)
    .map((h) => {
      const step = h.created_by ?? '';
      return /#\(nop\)/.test(step) && !/#\(nop\) (COPY|ADD)/.test(step) ? `(base image layer) ${step}` : step;
    });
  const sizes = new Map<string, number>();
  for (const line of tar(['-tvf', image.archive]).stdout.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length >= 6) sizes.set(parts.slice(5).join(' '), Number(parts[2]));
  }
  let total = 0;
  console.log(`operator image ${image.ref} (docker-archive ${(image.bytes / 1e6).toFixed(1)} MB), per layer:`);
  entry.Layers.forEach((layer, i) => {
    const bytes = sizes.get(layer) ?? 0;
    total += bytes;
    const step = (steps[i] ?? '?')
      .replace(/\s+/g, ' ')
      .replace(/^\/bin\/sh -c #\(nop\) /, '')
      .slice(0, 110);
    console.log(`  ${(bytes / 1e6).toFixed(1).padStart(7)} MB  ${step}`);
  });
  console.log(`  ${(total / 1e6).toFixed(1).padStart(7)} MB  total (uncompressed layers)`);
} catch (err) {
  console.log(`operator image: not measured (${(err as Error).message.split('\n')[0]})`);
}

// ---- production dependencies on disk: every package package-lock.json does not mark dev, its own files only
{
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };
  const ownBytes = (dir: string): number => {
    let n = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' && e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) n += ownBytes(p);
      else if (e.isFile()) n += statSync(p).size;
    }
    return n;
  };
  const byTop = new Map<string, number>();
  let total = 0;
  let count = 0;
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (!path || meta.dev) continue;
    let bytes = 0;
    try {
      bytes = ownBytes(join(ROOT, path));
    } catch {
      continue; // an optional package for another platform
    }
    count++;
    total += bytes;
    // Attribute nested packages to the top-level package that brought them (first node_modules segment).
    const top = path.split('node_modules/')[1]?.replace(/\/$/, '') ?? path;
    const name = top.startsWith('@') ? top.split('/').slice(0, 2).join('/') : (top.split('/')[0] ?? top);
    byTop.set(name, (byTop.get(name) ?? 0) + bytes);
  }
  const heaviest = [...byTop]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([name, b]) => `${name} ${(b / 1e6).toFixed(1)}`)
    .join(', ');
  console.log(
    `production dependencies: ${count} packages, ${(total / 1e6).toFixed(1)} MB on disk; heaviest (MB): ${heaviest}`,
  );
}
