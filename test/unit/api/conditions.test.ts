import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConditionReason,
  ConditionType,
  getCondition,
  isConditionTrue,
  setCondition,
  toMetaTime,
} from '../../../src/api/v1alpha1/conditions.ts';
import { Condition } from '../../../src/api/v1alpha1/incidentchannel.ts';

const T0 = new Date('2026-03-01T10:00:00.123Z');
const T1 = new Date('2026-03-01T10:05:00.456Z');

describe('condition vocabulary', () => {
  it('has the kstatus types and the per-component types', () => {
    assert.deepEqual(Object.values(ConditionType).sort(), [
      'CallsReady',
      'ElementReady',
      'EvidenceArchived',
      'ImagesPinned',
      'NamespaceReady',
      'Ready',
      'Reconciling',
      'Recording',
      'SecretsSealed',
      'Stalled',
      'SynapseReady',
      'TurnReady',
      'UsersProvisioned',
    ]);
  });

  it('uses only reasons and types the metav1.Condition schema accepts', () => {
    for (const reason of Object.values(ConditionReason)) {
      const parsed = Condition.safeParse({
        type: ConditionType.Ready,
        status: 'True',
        reason,
        message: '',
        lastTransitionTime: toMetaTime(T0),
      });
      assert.ok(parsed.success, `reason ${reason}: ${parsed.error?.message}`);
      assert.match(reason, /^[A-Z][A-Za-z]*$/, 'CamelCase');
    }
    for (const type of Object.values(ConditionType)) {
      assert.ok(
        Condition.safeParse({ type, status: 'False', reason: 'X', message: '', lastTransitionTime: toMetaTime(T0) })
          .success,
      );
    }
  });
});

describe('toMetaTime', () => {
  it('writes RFC 3339 UTC with second precision, like metav1.Time', () => {
    assert.equal(toMetaTime(T0), '2026-03-01T10:00:00Z');
  });
});

describe('setCondition', () => {
  const ready = { type: 'Ready', status: 'False', reason: 'Progressing', message: 'waiting for Synapse' } as const;

  it('appends a new condition with lastTransitionTime = now', () => {
    const out = setCondition(undefined, ready, T0);
    assert.deepEqual(out, [{ ...ready, lastTransitionTime: '2026-03-01T10:00:00Z' }]);
  });

  it('keeps lastTransitionTime when the status does not change, but takes the new reason and message', () => {
    const first = setCondition([], ready, T0);
    const second = setCondition(
      first,
      { ...ready, reason: 'RolloutInProgress', message: 'Element rolling out', observedGeneration: 3 },
      T1,
    );
    assert.deepEqual(second, [
      {
        type: 'Ready',
        status: 'False',
        reason: 'RolloutInProgress',
        message: 'Element rolling out',
        observedGeneration: 3,
        lastTransitionTime: '2026-03-01T10:00:00Z',
      },
    ]);
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], ready, T0);
    const flipped = setCondition(first, { ...ready, status: 'True', reason: 'AllComponentsReady', message: '' }, T1);
    assert.equal(flipped[0]?.lastTransitionTime, '2026-03-01T10:05:00Z');
    assert.equal(flipped[0]?.status, 'True');
  });

  it('treats Unknown as a status of its own', () => {
    const first = setCondition([], { ...ready, status: 'Unknown' }, T0);
    assert.equal(setCondition(first, ready, T1)[0]?.lastTransitionTime, '2026-03-01T10:05:00Z');
  });

  it('replaces in place, keeps the order of the others, and does not modify its input', () => {
    let list = setCondition([], ready, T0);
    list = setCondition(list, { type: 'Stalled', status: 'False', reason: 'Succeeded', message: '' }, T0);
    list = setCondition(list, { type: 'Reconciling', status: 'True', reason: 'Reconciling', message: '' }, T0);
    const before = structuredClone(list);
    const out = setCondition(list, { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: 'bad' }, T1);
    assert.deepEqual(list, before);
    assert.deepEqual(
      out.map((c) => c.type),
      ['Ready', 'Stalled', 'Reconciling'],
    );
    assert.equal(out[1]?.status, 'True');
    assert.equal(out[1]?.lastTransitionTime, '2026-03-01T10:05:00Z');
    assert.equal(out[0], list[0], 'untouched conditions are reused as they are');
  });

  it('drops an old observedGeneration the update does not carry', () => {
    const first = setCondition([], { ...ready, observedGeneration: 1 }, T0);
    assert.equal(setCondition(first, ready, T1)[0]?.observedGeneration, undefined);
  });

  it('produces conditions the status schema accepts', () => {
    const out = setCondition([], { ...ready, observedGeneration: 2 }, T0);
    assert.ok(Condition.safeParse(out[0]).success);
  });
});

describe('getCondition / isConditionTrue', () => {
  const list = setCondition(
    setCondition([], { type: 'Ready', status: 'True', reason: 'AllComponentsReady', message: '' }, T0),
    { type: 'Stalled', status: 'Unknown', reason: 'Reconciling', message: '' },
    T0,
  );

  it('finds by type', () => {
    assert.equal(getCondition(list, 'Stalled')?.status, 'Unknown');
    assert.equal(getCondition(list, 'TurnReady'), undefined);
    assert.equal(getCondition(undefined, 'Ready'), undefined);
  });

  it('is true only for status True', () => {
    assert.equal(isConditionTrue(list, 'Ready'), true);
    assert.equal(isConditionTrue(list, 'Stalled'), false);
    assert.equal(isConditionTrue(list, 'TurnReady'), false);
    assert.equal(isConditionTrue(undefined, 'Ready'), false);
  });
});
