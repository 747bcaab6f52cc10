import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { KubeClient } from '../../src/kube/client.ts';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { LeaderElector } from '../../src/kube/leader.ts';
import type { KubeObject } from '../../src/kube/objects.ts';
import { Reflector } from '../../src/kube/reflector.ts';
import { KubeRest } from '../../src/kube/rest.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually } from '../support/kubectl.ts';

const cluster = useCluster();
const client = () => new KubeClient(new KubeRest(loadKubeConfig(cluster().kubeconfig)));
const suffix = () => randomBytes(3).toString('hex');

test('server-side apply creates, updates and is idempotent; list by label; delete', async () => {
  const c = client();
  const ns = `kc-${suffix()}`;
  const nsObj = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { a: '1' } } };
  const created = await c.apply<KubeObject>(nsObj);
  assert.equal(created.metadata.labels?.a, '1');
  const again = await c.apply<KubeObject>(nsObj);
  assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion, 'a no-op apply writes nothing');

  const cm = (data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cfg', namespace: ns, labels: { 'warroom.dev/test': ns } },
    data,
  });
  await c.apply(cm({ x: '1', y: '2' }));
  const updated = await c.apply<KubeObject & { data: Record<string, string> }>(cm({ x: '1' }));
  assert.deepEqual(updated.data, { x: '1' }, 'a field dropped from our intent is removed by SSA');

  const listed = await c.list('v1', 'ConfigMap', { namespace: ns, labelSelector: `warroom.dev/test=${ns}` });
  assert.deepEqual(
    listed.map((o) => o.metadata.name),
    ['cfg'],
  );
  assert.equal(listed[0]?.kind, 'ConfigMap');

  assert.equal(await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'cfg' }), true);
  assert.equal(await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'cfg' }), false);
  assert.equal(await c.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'cfg' }), undefined);
  await c.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns });
});

test('the reflector lists, then sees adds, updates and deletes through its watch', async () => {
  const c = client();
  const ns = `rf-${suffix()}`;
  await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await c.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before', namespace: ns }, data: {} });
  const seen: string[] = [];
  const r = new Reflector<KubeObject>({
    rest: c.rest,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns,
    handlers: {
      onUpsert: (o, old) => seen.push(`${old ? 'update' : 'add'}:${o.metadata.name}`),
      onDelete: (o) => seen.push(`delete:${o.metadata.name}`),
    },
  });
  r.start();
  try {
    await r.waitForSync();
    assert.ok(r.get(`${ns}/before`));
    await c.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after', namespace: ns }, data: {} });
    await c.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'after', namespace: ns },
      data: { k: 'v' },
    });
    await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'before' });
    await eventually('all events seen', async () => seen.includes('delete:before') && seen.includes('update:after'));
    assert.deepEqual(
      seen.filter((s) => s.endsWith('before') || s.endsWith('after')),
      ['add:before', 'add:after', 'update:after', 'delete:before'],
    );
    assert.equal(r.get(`${ns}/before`), undefined);
  } finally {
    await r.stop();
    await c.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  }
});

test('leader election: one leader at a time, and a released lease is taken over at once', async () => {
  const c = client();
  const name = `le-${suffix()}`;
  const events: string[] = [];
  const mk = (id: string) =>
    new LeaderElector({
      client: c,
      namespace: 'default',
      name,
      identity: id,
      retryPeriodMs: 200,
      onStartedLeading: () => events.push(`start:${id}`),
      onStoppedLeading: () => events.push(`stop:${id}`),
    });
  const a = mk('a');
  a.start();
  await eventually('a leads', async () => a.isLeader);
  const b = mk('b');
  b.start();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(b.isLeader, false, 'b must not lead while a renews');
  await a.stop();
  await eventually('b takes over after release', async () => b.isLeader, 5000);
  await b.stop();
  assert.deepEqual(events, ['start:a', 'start:b']);
});
