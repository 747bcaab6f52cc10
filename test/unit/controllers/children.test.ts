import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ChildIndex,
  projectMetadata,
  projectNamespace,
  projectPod,
  projectService,
  projectSpec,
  sameProjection,
} from '../../../src/controllers/incidentchannel/children.ts';

const quota = (resourceVersion: string, hard: Record<string, string>, used: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ResourceQuota',
  metadata: {
    name: 'quota',
    namespace: 'wr-x',
    resourceVersion,
    labels: { 'app.kubernetes.io/managed-by': 'warroom-operator', 'warroom.dev/channel': 'x', other: 'dropped' },
    managedFields: [{ manager: 'kube-controller-manager' }],
  },
  spec: { hard },
  status: { hard, used },
});

describe('child projections', () => {
  test("a quota's usage recount is not a change for the operator; an edit of its limits is", () => {
    const applied = projectSpec(quota('1', { pods: '20' }, {}));
    const recounted = projectSpec(quota('2', { pods: '20' }, { pods: '3' }));
    const edited = projectSpec(quota('3', { pods: '200' }, { pods: '3' }));
    assert.equal(sameProjection(applied, recounted), true);
    assert.equal(sameProjection(recounted, edited), false);
    assert.equal(applied.metadata.labels?.other, undefined, 'only the labels the operator sets are kept');
    assert.equal('status' in applied, false);
  });

  test('a pod whose waiting reason or deletion changes is a change; a new resourceVersion alone is not', () => {
    const pod = (resourceVersion: string, reason?: string, deletionTimestamp?: string) =>
      projectPod({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'p',
          namespace: 'wr-x',
          resourceVersion,
          ...(deletionTimestamp ? { deletionTimestamp } : {}),
        },
        status: {
          containerStatuses: [{ name: 'c', image: 'i', state: reason ? { waiting: { reason } } : { running: {} } }],
        },
      });
    assert.equal(sameProjection(pod('1'), pod('2')), true);
    assert.equal(sameProjection(pod('1'), pod('2', 'ImagePullBackOff')), false);
    assert.equal(sameProjection(pod('1'), pod('2', undefined, '2026-01-01T00:00:00Z')), false);
  });

  test('the uid is kept where it is read (a namespace, deleted with it as precondition), not on other children', () => {
    const meta = { name: 'n', uid: 'u-1', resourceVersion: '1', annotations: { 'warroom.dev/channel-uid': 'c-1' } };
    const ns = projectNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: meta, status: { phase: 'Active' } });
    assert.equal(ns.metadata.uid, 'u-1');
    assert.deepEqual(ns.metadata.annotations, { 'warroom.dev/channel-uid': 'c-1' });
    const sa = projectMetadata({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...meta, namespace: 'wr-x' } });
    assert.equal(sa.metadata.uid, undefined);
  });
});

describe('ChildIndex', () => {
  const child = (kind: string, name: string, namespace: string, resourceVersion = '1') =>
    projectMetadata({ apiVersion: 'v1', kind, metadata: { name, namespace: namespace.slice(), resourceVersion } });
  const service = (name: string, namespace: string, nodePorts: number[]) =>
    projectService({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/component': 'coturn' } },
      spec: { ports: nodePorts.map((nodePort) => ({ nodePort })) },
    });
  const names = (objs: { metadata: { name: string } }[]) => objs.map((o) => o.metadata.name).sort();

  test('children by namespace and kind: upsert replaces the same object, remove drops it, namespaces apart', () => {
    const index = new ChildIndex();
    index.upsert(child('ConfigMap', 'a', 'wr-1'));
    index.upsert(child('ConfigMap', 'b', 'wr-1'));
    index.upsert(child('ServiceAccount', 'a', 'wr-1'));
    index.upsert(child('ConfigMap', 'a', 'wr-2'));
    index.upsert(child('ConfigMap', 'a', 'wr-1', '2'));
    assert.deepEqual(names(index.of('wr-1', 'v1', 'ConfigMap')), ['a', 'b']);
    assert.equal(
      index.of('wr-1', 'v1', 'ConfigMap').find((o) => o.metadata.name === 'a')?.metadata.resourceVersion,
      '2',
    );
    assert.deepEqual(names(index.of('wr-1', 'v1', 'ServiceAccount')), ['a']);
    assert.deepEqual(names(index.of('wr-2', 'v1', 'ConfigMap')), ['a']);
    index.remove(child('ConfigMap', 'a', 'wr-1'));
    assert.deepEqual(names(index.of('wr-1', 'v1', 'ConfigMap')), ['b']);
    assert.deepEqual(names(index.of('wr-1', 'v1', 'ServiceAccount')), ['a'], 'same name, other kind: kept');
    index.remove(child('ConfigMap', 'a', 'wr-2'));
    assert.deepEqual(index.of('wr-2', 'v1', 'ConfigMap'), []);
    assert.deepEqual(index.of('wr-none', 'v1', 'ConfigMap'), []);
  });

  test('a relist replaces one kind whole: objects gone while the watch was down go, other kinds stay', () => {
    const index = new ChildIndex();
    index.upsert(child('ConfigMap', 'gone', 'wr-1'));
    index.upsert(child('ServiceAccount', 'sa', 'wr-1'));
    index.upsert(child('ConfigMap', 'only', 'wr-3'));
    index.replaceKind('v1', 'ConfigMap', [child('ConfigMap', 'new', 'wr-2')]);
    assert.deepEqual(index.of('wr-1', 'v1', 'ConfigMap'), []);
    assert.deepEqual(names(index.of('wr-1', 'v1', 'ServiceAccount')), ['sa']);
    assert.deepEqual(index.of('wr-3', 'v1', 'ConfigMap'), []);
    assert.deepEqual(names(index.of('wr-2', 'v1', 'ConfigMap')), ['new']);
    const ns = projectNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'wr-1' }, status: {} });
    index.upsert(ns);
    assert.equal(index.namespace('wr-1'), ns);
    index.replaceKind('v1', 'Namespace', []);
    assert.equal(index.namespace('wr-1'), undefined);
  });

  test('everywhere: one kind across namespaces (coturn blocks for relay-port allocation)', () => {
    const index = new ChildIndex();
    index.upsert(service('coturn', 'wr-1', [30000, 30009]));
    index.upsert(service('coturn', 'wr-2', [30010]));
    index.upsert(child('ConfigMap', 'coturn', 'wr-3'));
    assert.deepEqual(
      index
        .everywhere<{ nodePorts: number[] }>('v1', 'Service')
        .map((s) => [s.metadata.namespace, s.state.nodePorts])
        .sort(),
      [
        ['wr-1', [30000, 30009]],
        ['wr-2', [30010]],
      ],
    );
  });

  // Sharing one copy of the namespace's name is not observable from JS (strings compare by value); its value is.
  test("sharing the namespace's name between its children leaves every child's namespace as it was", () => {
    const index = new ChildIndex();
    const a = child('ConfigMap', 'a', 'wr-shared');
    const b = child('ConfigMap', 'b', 'wr-shared');
    index.upsert(a);
    index.upsert(b);
    assert.equal(a.metadata.namespace, 'wr-shared');
    assert.equal(b.metadata.namespace, 'wr-shared');
  });
});
