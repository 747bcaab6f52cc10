import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ChannelStatus,
  computeStatus,
  mergeConditions,
  statusEquals,
  tornDownStatus,
} from '../../../src/controllers/incidentchannel/status.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';

const t0 = new Date('2026-11-23T10:00:00Z');
const t1 = new Date('2026-11-23T10:05:00Z');
const channel = (status?: unknown): KubeObject => ({
  apiVersion: 'warroom.dev/v1alpha1',
  kind: 'IncidentChannel',
  metadata: { name: 'ir-1', generation: 3 },
  spec: { participants: [{ handle: 'a' }, { handle: 'b' }] },
  ...(status ? { status } : {}),
});
const cond = (s: ChannelStatus, type: string) => s.conditions.find((c) => c.type === type);
const base = { namespace: 'wr-ir-1-abc', namespacePhase: 'Active', expiresAt: t1 };

test('lastTransitionTime moves only when a condition flips', () => {
  const first = mergeConditions([], [{ type: 'Ready', status: 'False', reason: 'A', message: 'x' }], t0);
  const same = mergeConditions(first, [{ type: 'Ready', status: 'False', reason: 'B', message: 'y' }], t1);
  assert.equal(same[0]?.lastTransitionTime, '2026-11-23T10:00:00Z');
  const flipped = mergeConditions(same, [{ type: 'Ready', status: 'True', reason: 'C', message: 'z' }], t1);
  assert.equal(flipped[0]?.lastTransitionTime, '2026-11-23T10:05:00Z');
});

test('Ready only when the namespace, the secrets and every component are up', () => {
  const up = { type: 'SynapseReady', status: 'True' as const, reason: 'Ready', message: 'ok' };
  const down = {
    type: 'ElementReady',
    status: 'False' as const,
    reason: 'ImagePullBackOff',
    message: 'element: pull failed',
  };
  const ready = computeStatus(channel(), { ...base, components: [up], secrets: { ok: true, total: 4 } }, t0);
  assert.equal(ready.phase, 'Ready');
  assert.equal(cond(ready, 'Ready')?.status, 'True');
  assert.equal(ready.observedGeneration, 3);
  assert.equal(ready.participantCount, 2);
  const waiting = computeStatus(channel(), { ...base, components: [up, down], secrets: { ok: true, total: 4 } }, t0);
  assert.equal(waiting.phase, 'Provisioning');
  assert.equal(cond(waiting, 'Ready')?.reason, 'ImagePullBackOff');
  assert.match(cond(waiting, 'Ready')?.message ?? '', /element: pull failed/);
  assert.equal(cond(waiting, 'ElementReady')?.status, 'False');
});

test('an unreachable sealed-secrets controller stalls the channel with its reason', () => {
  const s = computeStatus(
    channel(),
    { ...base, secrets: { ok: false, reason: 'SealedSecretsUnavailable', message: 'the controller is unreachable' } },
    t0,
  );
  assert.equal(cond(s, 'Stalled')?.status, 'True');
  assert.equal(cond(s, 'Stalled')?.reason, 'SealedSecretsUnavailable');
  assert.equal(cond(s, 'SecretsSealed')?.status, 'False');
  assert.equal(s.phase, 'Provisioning');
});

test('images without a digest are a warning condition, not a blocker', () => {
  const s = computeStatus(channel(), { ...base, imagesWithoutDigest: ['docker.io/x/y:1'] }, t0);
  assert.equal(s.phase, 'Ready');
  assert.equal(cond(s, 'ImagesPinned')?.status, 'False');
  assert.match(cond(s, 'ImagesPinned')?.message ?? '', /docker\.io\/x\/y:1/);
});

test('an apply error keeps the previous observedGeneration (kstatus: this generation was not acted on)', () => {
  const s = computeStatus(channel({ observedGeneration: 2 }), { ...base, applyError: 'boom' }, t0);
  assert.equal(s.observedGeneration, 2);
  assert.equal(cond(s, 'Ready')?.reason, 'ApplyFailed');
});

test('teardown: Archiving, then a terminal phase that keeps the namespace name and records closedAt', () => {
  const live = channel({ phase: 'Ready', namespace: 'wr-ir-1-abc', conditions: [] });
  const archiving = tornDownStatus(live, { phase: 'Archiving', reason: 'CaseClosed' }, t0);
  assert.equal(archiving.phase, 'Archiving');
  assert.equal(cond(archiving, 'Reconciling')?.status, 'True');
  const closed = tornDownStatus(channel(archiving), { phase: 'Closed', reason: 'CaseClosed' }, t1);
  assert.equal(closed.phase, 'Closed');
  assert.equal(closed.namespace, 'wr-ir-1-abc');
  assert.equal(closed.closedAt, '2026-11-23T10:05:00Z');
  const failed = tornDownStatus(
    live,
    {
      phase: 'Archiving',
      reason: 'TTLExpired',
      evidence: { kind: 'failed', reason: 'VerifyFailed', message: 'hash mismatch' },
    },
    t0,
  );
  assert.equal(cond(failed, 'EvidenceArchived')?.status, 'False');
  assert.match(cond(failed, 'Stalled')?.message ?? '', /force-delete/);
});

test('statusEquals ignores key order, so an unchanged status is never rewritten', () => {
  const s = computeStatus(channel(), base, t0);
  const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(s).reverse())));
  assert.equal(statusEquals(reordered, s), true);
  assert.equal(statusEquals({ ...reordered, phase: 'Failed' }, s), false);
});

test('Recording: the figures go into status; an unasked reconcile keeps them; it never gates Ready', () => {
  const up = { type: 'SynapseReady', status: 'True' as const, reason: 'Ready', message: 'ok' };
  const head = 'ab'.repeat(32);
  const recording = computeStatus(
    channel(),
    {
      ...base,
      components: [up],
      recording: { enabled: true, reachable: true, ready: true, events: 42, headHash: head },
    },
    t0,
  );
  assert.deepEqual(recording.recording, { events: 42, headHash: head });
  assert.equal(cond(recording, 'Recording')?.status, 'True');
  assert.match(cond(recording, 'Recording')?.message ?? '', /42 events/);
  // Not asked this time (e.g. Synapse restarting): figures and condition carry over, transition time too.
  const later = computeStatus(channel(recording), { ...base, components: [up] }, t1);
  assert.deepEqual(later.recording, recording.recording);
  assert.equal(cond(later, 'Recording')?.lastTransitionTime, cond(recording, 'Recording')?.lastTransitionTime);
  // Unreachable: says so, keeps the last figures, and Ready still follows the workloads.
  const lost = computeStatus(
    channel(later),
    { ...base, components: [up], recording: { enabled: true, reachable: false, message: 'connection refused' } },
    t1,
  );
  assert.equal(cond(lost, 'Recording')?.status, 'False');
  assert.equal(cond(lost, 'Recording')?.reason, 'RecorderNotReady');
  assert.deepEqual(lost.recording, recording.recording);
  assert.equal(cond(lost, 'Ready')?.status, 'True');
  const off = computeStatus(channel(), { ...base, components: [up], recording: { enabled: false } }, t0);
  assert.equal(cond(off, 'Recording')?.reason, 'RecordingDisabled');
});

test('an archived teardown records the archive and the final transcript figures', () => {
  const head = 'cd'.repeat(32);
  const archived = tornDownStatus(
    channel({ phase: 'Ready', namespace: 'wr-ir-1-abc', conditions: [] }),
    {
      phase: 'Archiving',
      reason: 'CaseClosed',
      evidence: {
        kind: 'archived',
        archive: {
          location: '/evidence/ir-1.tar',
          sha256: 'ef'.repeat(32),
          verifiedAt: '2026-11-23T10:05:00Z',
          events: 7,
          headHash: head,
        },
      },
    },
    t1,
  );
  assert.deepEqual(archived.archive, {
    location: '/evidence/ir-1.tar',
    sha256: 'ef'.repeat(32),
    verifiedAt: '2026-11-23T10:05:00Z',
  });
  assert.deepEqual(archived.recording, { events: 7, headHash: head });
  assert.equal(cond(archived, 'EvidenceArchived')?.status, 'True');
});
