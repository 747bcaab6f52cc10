import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Channel, toChannel } from '../../../src/controllers/incidentchannel/channel.ts';
import { updateNeedsReconcile } from '../../../src/controllers/incidentchannel/channel-updates.ts';
import { FINALIZER } from '../../../src/controllers/incidentchannel/names.ts';
import { exampleObject } from './channel-fixtures.ts';

const created = toChannel({
  ...exampleObject('minimal.yaml'),
  metadata: { ...exampleObject('minimal.yaml').metadata, generation: 1, resourceVersion: '10' },
});
const edit = (c: Channel, change: (raw: Channel) => Channel): Channel => {
  const next = change(structuredClone(c));
  return toChannel({
    ...next,
    metadata: { ...next.metadata, resourceVersion: String(Number(c.metadata.resourceVersion) + 1) },
  });
};
const withOurFinalizer = edit(created, (c) => ({ ...c, metadata: { ...c.metadata, finalizers: [FINALIZER] } }));
const withStatus = edit(withOurFinalizer, (c) => ({
  ...c,
  status: { phase: 'Provisioning', namespace: 'wr-x', observedGeneration: 1, conditions: [] },
}));

describe('which channel updates need a reconcile', () => {
  test('a new channel does', () => {
    assert.equal(updateNeedsReconcile(created, undefined), true);
  });

  test("the echoes of the reconciler's own writes (its finalizer added, its status) do not", () => {
    assert.equal(updateNeedsReconcile(withOurFinalizer, created), false);
    assert.equal(updateNeedsReconcile(withStatus, withOurFinalizer), false);
    assert.equal(updateNeedsReconcile(withStatus, created), false, 'both, read off the watch as one update');
    const again = edit(withStatus, (c) => ({ ...c, status: { ...c.status, phase: 'Ready' } as Channel['status'] }));
    assert.equal(updateNeedsReconcile(again, withStatus), false);
  });

  test("everything someone else changes does: spec, generation, labels, annotations, others' finalizers, deletion", () => {
    const changes: [string, (c: Channel) => Channel][] = [
      ['spec (closed)', (c) => ({ ...c, spec: { ...(c.spec as object), closed: true } })],
      ['generation', (c) => ({ ...c, metadata: { ...c.metadata, generation: 2 } })],
      ['a label', (c) => ({ ...c, metadata: { ...c.metadata, labels: { team: 'soc' } } })],
      [
        'an annotation (legal hold)',
        (c) => ({ ...c, metadata: { ...c.metadata, annotations: { 'warroom.dev/legal-hold': 'true' } } }),
      ],
      [
        "another controller's finalizer",
        (c) => ({ ...c, metadata: { ...c.metadata, finalizers: [FINALIZER, 'x/y'] } }),
      ],
      ['our finalizer removed by hand', (c) => ({ ...c, metadata: { ...c.metadata, finalizers: [] } })],
      ['deletion', (c) => ({ ...c, metadata: { ...c.metadata, deletionTimestamp: '2026-12-05T10:00:00Z' } })],
      ['another object under the same name', (c) => ({ ...c, metadata: { ...c.metadata, uid: 'another-uid' } })],
    ];
    for (const [what, change] of changes) {
      assert.equal(updateNeedsReconcile(edit(withStatus, change), withStatus), true, what);
    }
  });
});
