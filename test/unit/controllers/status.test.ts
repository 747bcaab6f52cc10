import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Cond, cond } from '../../../src/api/v1alpha1/conditions.ts';
import { IncidentChannelStatus } from '../../../src/api/v1alpha1/incidentchannel.ts';
import { toChannel } from '../../../src/controllers/incidentchannel/channel.ts';
import {
  type ChannelStatus,
  checkStatus,
  type LiveOutcome,
  liveStatus,
  mergeConditions,
  statusEquals,
  teardownStatus,
} from '../../../src/controllers/incidentchannel/status.ts';

const t0 = new Date('2026-11-23T10:00:00Z');
const t1 = new Date('2026-11-23T10:05:00Z');
const channel = (status?: unknown) =>
  toChannel({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name: 'ir-1', generation: 3, uid: 'u-1' },
    spec: { caseId: 'ir-1', ttl: '1h', participants: [{ handle: 'a', role: 'lead' }, { handle: 'b' }] },
    ...(status ? { status } : {}),
  });
const get = (s: ChannelStatus, type: string) => s.conditions.find((c) => c.type === type);
const REQUIRED = ['NamespaceReady', 'SecretsSealed', 'SynapseReady', 'ElementReady', 'UsersProvisioned'] as const;
const ALL_UP: Cond[] = [
  cond('NamespaceReady', 'True', 'Active', 'ns active'),
  cond('SecretsSealed', 'True', 'Sealed', '4 secrets'),
  cond('SynapseReady', 'True', 'Ready', 'synapse 1/1'),
  cond('ElementReady', 'True', 'Ready', 'element 1/1'),
  cond('UsersProvisioned', 'True', 'Completed', 'job completed'),
];
const outcome = (o: Partial<LiveOutcome> = {}): LiveOutcome => ({
  parts: ALL_UP,
  required: [...REQUIRED],
  fields: { namespace: 'wr-ir-1-abc', expiresAt: '2026-11-23T11:00:00Z' },
  actedOnGeneration: true,
  readyMessage: 'war room ready',
  warned: false,
  ...o,
});

test('lastTransitionTime moves only when a condition flips; every condition carries the generation', () => {
  const first = mergeConditions([], [cond('Ready', 'False', 'Provisioning', 'x')], t0, 1);
  const same = mergeConditions(first, [cond('Ready', 'False', 'Stalled', 'y')], t1, 2);
  assert.equal(same[0]?.lastTransitionTime, '2026-11-23T10:00:00Z');
  assert.equal(same[0]?.observedGeneration, 2);
  const flipped = mergeConditions(same, [cond('Ready', 'True', 'WarRoomReady', 'z')], t1, 2);
  assert.equal(flipped[0]?.lastTransitionTime, '2026-11-23T10:05:00Z');
});

test('Ready is derived: True only when every required part is True; kstatus conditions only while true', () => {
  const ready = liveStatus(channel(), outcome(), t0);
  assert.equal(ready.phase, 'Ready');
  assert.equal(get(ready, 'Ready')?.status, 'True');
  assert.equal(get(ready, 'Ready')?.reason, 'WarRoomReady');
  assert.equal(get(ready, 'Reconciling'), undefined, 'Reconciling is absent once reconciled');
  assert.equal(get(ready, 'Stalled'), undefined, 'Stalled is absent when nothing is stalled');
  assert.equal(ready.observedGeneration, 3);
  assert.equal(ready.participantCount, 2);
  for (const c of ready.conditions) assert.equal(c.observedGeneration, 3, c.type);

  const pull = cond('ElementReady', 'False', 'ImagePullBackOff', 'pod element-x: ImagePullBackOff');
  const parts = ALL_UP.map((c) => (c.type === 'ElementReady' ? pull : c));
  const waiting = liveStatus(channel(ready), outcome({ parts }), t1);
  assert.equal(waiting.phase, 'Provisioning');
  assert.equal(get(waiting, 'Ready')?.status, 'False');
  assert.match(get(waiting, 'Ready')?.message ?? '', /ImagePullBackOff/);
  assert.equal(get(waiting, 'Reconciling')?.status, 'True');
  assert.equal(get(waiting, 'ElementReady')?.reason, 'ImagePullBackOff');

  const missing = liveStatus(channel(), outcome({ parts: ALL_UP.slice(0, 2) }), t0);
  assert.equal(missing.phase, 'Provisioning', 'a required part not yet stated is not ready');
});

test('Stalled: abnormal-true, names why, phase Failed; it goes away once resolved', () => {
  const stalled = cond(
    'Stalled',
    'True',
    'ChildRejected',
    'the apiserver refused Ingress wr-x/element: spec.rules[0].host',
  );
  const s = liveStatus(channel(), outcome({ stalled, actedOnGeneration: false }), t0);
  assert.equal(s.phase, 'Failed');
  assert.equal(get(s, 'Stalled')?.status, 'True');
  assert.equal(get(s, 'Stalled')?.reason, 'ChildRejected');
  assert.equal(get(s, 'Ready')?.reason, 'Stalled');
  assert.equal(get(s, 'Reconciling'), undefined);
  assert.equal(s.observedGeneration, undefined, 'a generation that was not acted on is not observed');
  const fixed = liveStatus(channel(s), outcome(), t1);
  assert.equal(get(fixed, 'Stalled'), undefined);
  assert.equal(fixed.phase, 'Ready');
});

test('a transient error lasting over a minute shows in Reconciling', () => {
  const s = liveStatus(channel(), outcome({ retrying: 'retrying since …: 503' }), t0);
  assert.equal(get(s, 'Reconciling')?.reason, 'RetryingAfterError');
});

test('expiry warnings: Ready shows as Expiring', () => {
  const s = liveStatus(channel(), outcome({ warned: true }), t0);
  assert.equal(s.phase, 'Expiring');
  assert.equal(get(s, 'Ready')?.reason, 'ExpiringSoon');
});

test('Recording is kept when not asked this time (its transition time too), and never gates Ready', () => {
  const rec = cond('Recording', 'True', 'RecorderRunning', '42 events');
  const first = liveStatus(channel(), outcome({ parts: [...ALL_UP, rec], keep: ['Recording'] }), t0);
  const later = liveStatus(channel(first), outcome({ keep: ['Recording'] }), t1);
  assert.equal(get(later, 'Recording')?.lastTransitionTime, get(first, 'Recording')?.lastTransitionTime);
  const lost = cond('Recording', 'False', 'RecorderUnreachable', 'connection refused');
  const down = liveStatus(channel(later), outcome({ parts: [...ALL_UP, lost] }), t1);
  assert.equal(get(down, 'Ready')?.status, 'True');
});

test('teardown: Archiving, then a terminal phase that keeps the namespace and records closedAt', () => {
  const live = channel({ phase: 'Ready', namespace: 'wr-ir-1-abc', conditions: [] });
  const archiving = teardownStatus(live, { phase: 'Archiving', reason: 'CaseClosed' }, t0);
  assert.equal(archiving.phase, 'Archiving');
  assert.equal(get(archiving, 'Reconciling')?.reason, 'TearingDown');
  const closed = teardownStatus(channel(archiving), { phase: 'Closed', reason: 'CaseClosed' }, t1);
  assert.equal(closed.phase, 'Closed');
  assert.equal(closed.namespace, 'wr-ir-1-abc');
  assert.equal(closed.closedAt, '2026-11-23T10:05:00Z');
  assert.equal(get(closed, 'Reconciling'), undefined);
  assert.equal(get(closed, 'Ready')?.reason, 'CaseClosed');
  const failed = teardownStatus(
    live,
    {
      phase: 'Archiving',
      reason: 'TTLExpired',
      evidence: { kind: 'failed', reason: 'ArchiveVerificationFailed', message: 'hash mismatch' },
    },
    t0,
  );
  assert.equal(get(failed, 'EvidenceArchived')?.status, 'False');
  assert.equal(get(failed, 'Stalled')?.reason, 'EvidenceNotVerified');
  assert.match(get(failed, 'Stalled')?.message ?? '', /force-delete/);
});

test('an archived teardown records the archive and the final transcript figures', () => {
  const head = 'cd'.repeat(32);
  const archived = teardownStatus(
    channel({ phase: 'Ready', namespace: 'wr-ir-1-abc', conditions: [] }),
    {
      phase: 'Archiving',
      reason: 'CaseClosed',
      evidence: {
        kind: 'archived',
        archive: {
          location: '/e/ir-1.tar',
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
    location: '/e/ir-1.tar',
    sha256: 'ef'.repeat(32),
    verifiedAt: '2026-11-23T10:05:00Z',
  });
  assert.deepEqual(archived.recording, { events: 7, headHash: head });
  assert.equal(get(archived, 'EvidenceArchived')?.status, 'True');
});

test('every status the operator builds is exactly what the CRD schema accepts', () => {
  const turn = ['turn:turn.example.org:3478?transport=udp', 'turn:turn.example.org:3478?transport=tcp'];
  const statuses = [
    liveStatus(
      channel(),
      outcome({ fields: { namespace: 'wr-x', endpoints: { homeserver: 'https://m.example.org', turn } } }),
      t0,
    ),
    liveStatus(channel(), outcome({ stalled: cond('Stalled', 'True', 'InvalidSpec', 'spec.ttl: bad') }), t0),
    teardownStatus(channel(), { phase: 'Closed', reason: 'CaseClosed' }, t0),
  ];
  for (const s of statuses) {
    assert.doesNotThrow(() => checkStatus(s));
    assert.ok(IncidentChannelStatus.safeParse(s).success);
  }
  // A field the schema does not declare is an operator bug, caught before the apiserver's 500.
  const extra = { ...statuses[0], surprise: 1 } as ChannelStatus;
  assert.throws(() => checkStatus(extra), /does not declare/);
  const wrongType = { ...statuses[0], endpoints: { turn: 'turn:x:1' } } as unknown as ChannelStatus;
  assert.throws(() => checkStatus(wrongType), /CRD schema/);
});

test('statusEquals ignores key order, so an unchanged status is never rewritten', () => {
  const s = liveStatus(channel(), outcome(), t0);
  const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(s).reverse())));
  assert.equal(statusEquals(reordered, s), true);
  assert.equal(statusEquals({ ...reordered, phase: 'Failed' }, s), false);
});
