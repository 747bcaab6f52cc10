// Many war rooms torn down at once on the kwok node: the harness must finalize pod deletions as fast as the namespace
// controller asks for them, or namespaces stay Terminating and every teardown at scale (the burst bench, crash tests
// that restart the operator mid-teardown) hangs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';

const CHANNELS = 50;
const cluster = useCluster();
const shard = testShard();
let operator: Operator;

interface Channel {
  metadata: { name: string };
  status?: { phase?: string; namespace?: string };
}
interface List<T> {
  items: T[];
}

before(async () => {
  await installCrd(await cluster.ready());
  operator = await startTestOperator(cluster(), { selector: shard.selector });
});
after(async () => {
  await operator?.stop();
});

const k = () => kubectl(cluster());
const listChannels = async () =>
  (await k().getJson<List<Channel>>(['incidentchannels', '-l', shard.selector]))?.items ?? [];

test(`${CHANNELS} channels created and closed within a minute all end Closed with their namespaces gone`, async () => {
  const prefix = `scale-${randomBytes(2).toString('hex')}`;
  const names = Array.from({ length: CHANNELS }, (_, i) => `${prefix}-${i}`);
  const started = Date.now();
  const manifest = {
    apiVersion: 'v1',
    kind: 'List',
    items: names.map((name) => ({
      apiVersion: 'warroom.dev/v1alpha1',
      kind: 'IncidentChannel',
      metadata: { name, labels: { [shard.label]: shard.value } },
      spec: { caseId: name, ttl: '72h', participants: [{ handle: 'falcon', role: 'lead' }] },
    })),
  };
  await k().apply(manifest);
  // Close them 15 s after creation, while the operator is still applying some and the pods of others are being
  // scheduled and started: the case that left namespaces Terminating.
  await new Promise((r) => setTimeout(r, Math.max(0, started + 15_000 - Date.now())));
  const ours = async () =>
    new Set(
      (
        (
          await k().getJson<List<{ metadata: { name: string } }>>([
            'namespaces',
            '-l',
            `warroom.dev/channel in (${names.join(',')})`,
          ])
        )?.items ?? []
      ).map((n) => n.metadata.name),
    );
  const namespaces = await ours();
  assert.ok(namespaces.size > 0, 'the operator made namespaces before the channels were closed');
  await k().exec([
    'patch',
    'incidentchannels',
    ...names,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { closed: true } }),
  ]);
  const closedWithin = (Date.now() - started) / 1000;
  assert.ok(closedWithin < 60, `all ${CHANNELS} closed ${closedWithin.toFixed(0)} s after creation (want < 60 s)`);

  let notClosed: string[] = [];
  await eventually(
    `all ${CHANNELS} channels Closed`,
    async () => {
      const phases = new Map((await listChannels()).map((c) => [c.metadata.name, c.status?.phase]));
      notClosed = names.filter((n) => phases.get(n) !== 'Closed');
      return notClosed.length === 0;
    },
    240_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; not Closed: ${notClosed.join(', ')}`);
  });
  // Closed is written once the namespace is gone: none of them, nor any namespace made for them later, is left.
  assert.deepEqual([...(await ours())], []);
  // Pods on the kwok node of those namespaces are gone too (no deletion left pending on the node).
  const pods = (await k().getJson<List<{ metadata: { namespace: string } }>>(['pods', '-A']))?.items ?? [];
  assert.deepEqual(
    pods.filter((p) => namespaces.has(p.metadata.namespace)),
    [],
  );
});
