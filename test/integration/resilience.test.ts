// Faults: the operator killed mid-reconcile, and the apiserver restarted mid-watch. This file starts a cluster of its
// own (restarting the shared one would break every other test running beside it).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LocalCluster, startCluster } from '../../hack/cluster/local-cluster.ts';
import type { Operator } from '../../src/operator.ts';
import { describeCluster, type TestCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import {
  installCrd,
  kwokEvidenceFlags,
  offsetClock,
  SHARED_CLUSTER_RELAY_PORTS,
  startTestOperator,
  testShard,
} from '../support/operator.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
let local: LocalCluster;
let cluster: TestCluster;

before(async () => {
  local = await startCluster({ log: () => {} });
  cluster = describeCluster(local);
  await installCrd(cluster);
});
after(async () => {
  await local?.stop();
});

interface Channel {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { phase?: string; namespace?: string; expiresAt?: string };
}
interface List<T> {
  items: T[];
}

const k = () => kubectl(cluster);
const channel = (name: string, shard: ReturnType<typeof testShard>, ttl = '72h') => ({
  apiVersion: 'warroom.dev/v1alpha1',
  kind: 'IncidentChannel',
  metadata: { name, labels: { [shard.label]: shard.value } },
  spec: { caseId: name, ttl, participants: [{ handle: 'falcon', role: 'lead' }] },
});

const evidenceDir = mkdtempSync(join(tmpdir(), 'warroom-resilience-evidence-'));

function operatorProcess(selector: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      MAIN,
      'operator',
      `--kubeconfig=${cluster.kubeconfig}`,
      '--leader-elect=false',
      `--channel-selector=${selector}`,
      '--log-level=warn',
      '--http-port=0',
      '--secrets=plain',
      ...kwokEvidenceFlags(evidenceDir),
      SHARED_CLUSTER_RELAY_PORTS,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

test('SIGKILL mid-reconcile of 20 channels, then restart: all converge and no namespace leaks', async () => {
  const shard = testShard();
  const names = Array.from({ length: 20 }, (_, i) => `kill-${i}-${randomBytes(2).toString('hex')}`);
  const first = operatorProcess(shard.selector);
  await Promise.all(names.map((n) => k().apply(channel(n, shard))));
  // Kill it as soon as it is visibly half way: some namespaces exist, not all channels are Ready.
  // A loaded machine (a whole suite on 2 cores) can take a while to start a Node process: bounded, but generous.
  await eventually(
    'some namespaces created',
    async () => {
      const ns = await k().getJson<List<unknown>>(['namespaces', '-l', 'app.kubernetes.io/managed-by=warroom']);
      return (ns?.items.length ?? 0) > 0;
    },
    120_000,
  );
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const readyBefore = (await k().getJson<List<Channel>>(['incidentchannels', '-l', shard.selector]))?.items.filter(
    (c) => c.status?.phase === 'Ready',
  ).length;

  const second = operatorProcess(shard.selector);
  try {
    const all = await eventually(
      'all 20 Ready after restart',
      async () => {
        const list = await k().getJson<List<Channel>>(['incidentchannels', '-l', shard.selector]);
        return list?.items.every((c) => c.status?.phase === 'Ready') && list.items.length === 20
          ? list.items
          : undefined;
      },
      240_000,
    ).catch(async (err: Error) => {
      // Say which channels are stuck and why, so a failure here explains itself.
      const list = await k().getJson<List<Channel & { status?: { conditions?: { type: string; message: string }[] } }>>(
        ['incidentchannels', '-l', shard.selector],
      );
      const stuck = (list?.items ?? [])
        .filter((c) => c.status?.phase !== 'Ready')
        .map(
          (c) =>
            `${c.metadata.name}: ${c.status?.phase} ${c.status?.conditions?.find((x) => x.type === 'Ready')?.message}`,
        );
      // And who holds which NodePorts, for a relay-port conflict.
      const services = await k().getJson<
        List<{ metadata: { namespace: string; name: string }; spec: { ports?: { nodePort?: number }[] } }>
      >(['services', '-A']);
      const held = (services?.items ?? [])
        .map((svc) => {
          const ports = (svc.spec.ports ?? []).map((p) => p.nodePort).filter((p): p is number => p !== undefined);
          return ports.length
            ? `${svc.metadata.namespace}/${svc.metadata.name}: ${Math.min(...ports)}-${Math.max(...ports)}`
            : '';
        })
        .filter(Boolean);
      const recorded = (list?.items ?? []).map(
        (c) => `${c.metadata.name}: ${JSON.stringify((c.status as { relayPorts?: unknown } | undefined)?.relayPorts)}`,
      );
      throw new Error(
        `${err.message}\n${stuck.join('\n')}\nnode ports:\n${held.join('\n')}\nrecorded:\n${recorded.join('\n')}`,
      );
    });
    assert.ok((readyBefore ?? 0) < 20, `the kill landed mid-way (${readyBefore} of 20 were Ready)`);
    const owned = await k().getJson<List<{ metadata: { name: string; labels: Record<string, string> } }>>([
      'namespaces',
      '-l',
      'app.kubernetes.io/managed-by=warroom',
    ]);
    const expected = new Set(all.map((c) => c.status?.namespace));
    const ours = owned?.items.filter((n) => names.includes(n.metadata.labels['warroom.dev/channel'] ?? '')) ?? [];
    assert.equal(ours.length, 20, 'exactly one namespace per channel');
    for (const n of ours) assert.ok(expected.has(n.metadata.name), `${n.metadata.name} belongs to its channel`);

    await k().exec(['delete', 'incidentchannels', '-l', shard.selector, '--wait=false']);
    await eventually(
      'every namespace gone',
      async () => {
        const left = await k().getJson<List<{ metadata: { labels: Record<string, string> } }>>([
          'namespaces',
          '-l',
          'app.kubernetes.io/managed-by=warroom',
        ]);
        return !left?.items.some((n) => names.includes(n.metadata.labels['warroom.dev/channel'] ?? ''));
      },
      120_000,
    );
  } finally {
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
  }
});

test('an apiserver restart across an expiry: the watch recovers and the expiry is not missed', async () => {
  const shard = testShard();
  // 10 min TTL seen by a clock 9 min 20 s ahead: it expires ~40 s after creation, around the apiserver restart.
  const operator: Operator = await startTestOperator(cluster, {
    selector: shard.selector,
    clock: offsetClock(560_000),
  });
  try {
    const name = `restart-${randomBytes(3).toString('hex')}`;
    await k().apply(channel(name, shard, '10m'));
    const ready = await eventually(
      'Ready or Expiring',
      async () => {
        const c = await k().getJson<Channel>(['incidentchannel', name]);
        return ['Ready', 'Expiring'].includes(c?.status?.phase ?? '') ? c : undefined;
      },
      90_000,
    );
    const expiresAt = Date.parse(ready.status?.expiresAt ?? '') - 560_000; // in real time
    const downAt = Date.now();
    await local.restartApiServer();
    const downSeconds = (Date.now() - downAt) / 1000;
    const expired = await eventually(
      'Expired after the restart',
      async () => {
        const c = await k().getJson<Channel>(['incidentchannel', name]);
        return c?.status?.phase === 'Expired' ? c : undefined;
      },
      90_000,
    );
    assert.equal(expired.status?.phase, 'Expired');
    assert.ok(Date.now() > expiresAt, 'expired no earlier than its deadline');
    // The watch came back: a channel created after the restart is picked up through it.
    const later = `after-${randomBytes(3).toString('hex')}`;
    await k().apply(channel(later, shard));
    await eventually(
      'a new channel reconciled after the restart',
      async () => {
        const c = await k().getJson<Channel>(['incidentchannel', later]);
        return ['Ready', 'Expiring'].includes(c?.status?.phase ?? '');
      },
      90_000,
    );
    const restarts = await operator.metrics.registry.getSingleMetricAsString('warroom_reflector_restarts_total');
    const total = [...restarts.matchAll(/^warroom_reflector_restarts_total\{[^}]*\} (\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    assert.ok(
      total > 0,
      `the watches broke during the ${downSeconds.toFixed(1)} s outage and were restarted (${total})`,
    );
  } finally {
    await operator.stop();
  }
});
