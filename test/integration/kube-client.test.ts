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

test('a metadata-only reflector gets labels and annotations but no data, in its list and through its watch', async () => {
  const c = client();
  const ns = `rm-${suffix()}`;
  await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const cm = (name: string, value: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns, labels: { 'warroom.dev/test': ns }, annotations: { note: value } },
    data: { file: value.repeat(1000) },
  });
  await c.apply(cm('listed', 'a'));
  const events: string[] = [];
  const r = new Reflector<KubeObject & { data?: unknown }>({
    rest: c.rest,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns,
    labelSelector: `warroom.dev/test=${ns}`,
    metadataOnly: true,
    // No transform: the cache holds exactly what the apiserver sent (less managedFields).
    handlers: {
      onUpsert: (o, old) => events.push(`${old ? 'update' : 'add'}:${o.metadata.name}:${o.metadata.annotations?.note}`),
      onDelete: (o) => events.push(`delete:${o.metadata.name}`),
    },
  });
  r.start();
  try {
    await r.waitForSync();
    const listed = r.get(`${ns}/listed`);
    assert.equal(listed?.apiVersion, 'v1');
    assert.equal(listed?.kind, 'ConfigMap', "the reflector's kind, not PartialObjectMetadata");
    assert.equal(listed?.metadata.labels?.['warroom.dev/test'], ns);
    assert.ok(listed?.metadata.uid && listed.metadata.resourceVersion);
    assert.equal(listed?.data, undefined, 'no data was sent');
    await c.apply(cm('watched', 'b'));
    await c.apply(cm('watched', 'c'));
    await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'listed' });
    await eventually(
      'all events seen',
      async () => events.includes('delete:listed') && events.includes('update:watched:c'),
    );
    const watched = r.get(`${ns}/watched`);
    assert.equal(watched?.kind, 'ConfigMap');
    assert.equal(watched?.metadata.annotations?.note, 'c');
    assert.equal(watched?.data, undefined);
    assert.deepEqual(events, ['add:listed:a', 'add:watched:b', 'update:watched:c', 'delete:listed']);
  } finally {
    await r.stop();
    await c.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  }
});

test('a list of several pages arrives item by item, and the reflector relists at its interval while its watch is healthy', async () => {
  const c = client();
  const ns = `rl-${suffix()}`;
  await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  // 501 ConfigMaps: two pages of the 500 the client asks for; a value with JSON's awkward characters in each.
  const names = Array.from({ length: 501 }, (_, i) => `cm-${i}`);
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names
        .slice(i, i + 50)
        .map((name) =>
          c.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { v: '}]"\\ü' } }),
        ),
    );
  }
  const relists: number[] = [];
  const restarts: string[] = [];
  const r = new Reflector<KubeObject & { data?: Record<string, string> }>({
    rest: c.rest,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns,
    relistIntervalMs: 2000,
    handlers: {},
    metrics: { relist: () => relists.push(Date.now()), restart: (_, reason) => restarts.push(reason) },
  });
  r.start();
  try {
    const listed = await c.list<KubeObject & { data?: Record<string, string> }>('v1', 'ConfigMap', { namespace: ns });
    assert.equal(listed.filter((o) => o.metadata.name.startsWith('cm-')).length, 501);
    assert.ok(listed.every((o) => o.kind === 'ConfigMap'));
    await r.waitForSync();
    assert.equal(r.get(`${ns}/cm-500`)?.data?.v, '}]"\\ü');
    await eventually('two relists after the first list', async () => relists.length >= 3, 15_000);
    const gap = (relists[2] ?? 0) - (relists[1] ?? 0);
    assert.ok(gap >= 1500 && gap < 6000, `relisted every ~2 s, not at the watch's 5–10 min timeout (${gap} ms)`);
    assert.equal(r.list().filter((o) => o.metadata.name.startsWith('cm-')).length, 501);
    assert.deepEqual(restarts, [], 'relists come from the interval, not from failed watches');
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
