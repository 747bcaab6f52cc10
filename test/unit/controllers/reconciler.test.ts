// The reconciler's fast tier: the real reconciler, phases, status and teardown against an in-memory double of its own
// cluster interface (test/support/memory-cluster.ts). The same flows run on the real control plane in
// test/integration (kwok) and test/e2e (real node); these prove ordering, polarity and call counts in milliseconds.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { EvidenceHook, EvidenceOutcome } from '../../../src/controllers/incidentchannel/evidence-hook.ts';
import { FINALIZER, LABEL_COMPONENT } from '../../../src/controllers/incidentchannel/names.ts';
import {
  IncidentChannelReconciler,
  type ReconcileContext,
} from '../../../src/controllers/incidentchannel/reconciler.ts';
import type { RecorderClient } from '../../../src/controllers/incidentchannel/recorder-client.ts';
import { mayFreeRelayBlock } from '../../../src/controllers/incidentchannel/relay-ports.ts';
import { SecretsPhase } from '../../../src/controllers/incidentchannel/secrets-phase.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import type { EventInput } from '../../../src/kube/events.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';
import { MemoryCluster } from '../../support/memory-cluster.ts';
import { exampleObject, SETTINGS } from './channel-fixtures.ts';

const CREATED = Date.parse('2026-12-01T10:00:00Z');
const HOUR = 3_600_000;

interface World {
  cluster: MemoryCluster;
  reconciler: IncidentChannelReconciler;
  events: { channel: string; ev: EventInput }[];
  order: string[];
  clock: { now: number };
  evidence: { outcome: EvidenceOutcome; calls: number };
  notices: string[];
  /** The reasons of the teardowns counted in metrics. */
  teardowns: string[];
  rc: ReconcileContext;
}

const silent = { info() {}, warn() {}, debug() {} };

function world(): World {
  const cluster = new MemoryCluster();
  const clock = { now: CREATED + 60_000 };
  const order: string[] = [];
  const events: World['events'] = [];
  const notices: string[] = [];
  const evidence = {
    outcome: {
      kind: 'archived',
      archive: { location: '/evidence/x.tar', sha256: 'ab'.repeat(32), verifiedAt: '2026-12-01T12:00:00Z' },
    } as EvidenceOutcome,
    calls: 0,
  };
  const hook: EvidenceHook = {
    async export() {
      // Seal, archive and verify happen inside the hook: the reconciler sees one step, before the namespace goes.
      order.push('evidence.export');
      evidence.calls++;
      return evidence.outcome;
    },
  };
  const recorder: RecorderClient = {
    async status() {
      return { ready: true, sealed: false, lines: 3, events: 3, decrypted: 3, failed: 0, headHash: 'cd'.repeat(32) };
    },
    async seal() {
      return new Uint8Array();
    },
    async notice(_ns, text) {
      notices.push(text);
    },
  };
  const teardowns: string[] = [];
  const reconciler = new IncidentChannelReconciler({
    cluster,
    now: () => new Date(clock.now),
    emit: async (channel, ev) => {
      events.push({ channel: channel.metadata.name, ev });
    },
    evidence: hook,
    recorder,
    secrets: new SecretsPhase({ client: cluster, mode: 'plain' }),
    expiry: { maxTtlMs: 8760 * HOUR, warnBeforeMs: [HOUR, 10 * 60_000], maxRequeueMs: HOUR },
    settings: { ...SETTINGS, secretsMode: 'plain' },
    metrics: { teardown: (reason) => teardowns.push(reason), ttlLateness() {}, channelReady() {} },
  });
  const rc: ReconcileContext = { log: silent, signal: new AbortController().signal };
  return { cluster, reconciler, events, order, clock, evidence, notices, teardowns, rc };
}

const minimal = (patch: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): KubeObject => {
  const doc = exampleObject('minimal.yaml');
  const { uid: _uid, ...metadata } = doc.metadata;
  return { ...doc, metadata: { ...metadata, ...meta }, spec: { ...(doc.spec as object), ...patch } };
};

/** Create → finalizer → first pass → every workload up → second pass: a Ready war room. */
async function readyChannel(w: World, obj = minimal()): Promise<string> {
  const name = obj.metadata.name;
  w.cluster.putChannel(obj);
  await w.reconciler.reconcile(name, w.rc); // finalizer
  await w.reconciler.reconcile(name, w.rc); // build
  w.cluster.setAllWorkloads(true);
  await w.reconciler.reconcile(name, w.rc);
  return name;
}

const cond = (w: World, name: string, type: string) =>
  w.cluster.channel(name)?.status?.conditions?.find((c) => c.type === type);

describe('reconciler (fast tier, in-memory cluster double)', () => {
  let w: World;
  beforeEach(() => {
    w = world();
  });

  it('adds the finalizer first, then builds in lifecycle order in the same pass: namespace → policies, secrets and the rest → workloads and the Job', async () => {
    w.cluster.putChannel(minimal());
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.deepEqual(w.cluster.channel('ir-2026-0042')?.metadata.finalizers, [FINALIZER]);
    const seq = w.cluster.calls.map((c) => (c.verb === 'apply' ? c.target.split('/')[0] : c.verb));
    const first = (k: string) => seq.indexOf(k);
    const last = (k: string) => seq.lastIndexOf(k);
    assert.equal(seq[0], 'patchChannel', 'the finalizer before anything is created');
    assert.equal(first('Namespace'), 1);
    assert.ok(first('NetworkPolicy') > 0 && first('create') > 0, 'the policies and the secrets are applied');
    const firstWorkload = Math.min(first('StatefulSet'), first('Deployment'));
    assert.ok(last('NetworkPolicy') < firstWorkload, 'every policy before any workload: no pod runs unfenced');
    assert.ok(last('create') < firstWorkload, 'secrets before the workloads that mount them');
    assert.ok(first('Job') > last('NetworkPolicy') && first('Job') > last('create'), 'the Job’s pod is fenced too');
    assert.equal(seq.at(-1), 'applyStatus', 'one status write, at the end');
    assert.equal(w.cluster.callsOf('applyStatus').length, 1);
    const status = w.cluster.channel('ir-2026-0042')?.status;
    assert.equal(status?.phase, 'Provisioning');
    assert.equal(cond(w, 'ir-2026-0042', 'Reconciling')?.status, 'True');
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled'), undefined);
  });

  it('Ready once every part is up; Reconciling disappears; a Ready event once', async () => {
    const name = await readyChannel(w);
    const status = w.cluster.channel(name)?.status;
    assert.equal(status?.phase, 'Ready', JSON.stringify(status?.conditions?.find((c) => c.type === 'Ready')));
    assert.equal(cond(w, name, 'Ready')?.status, 'True');
    assert.equal(cond(w, name, 'Reconciling'), undefined);
    assert.ok(status?.conditions?.every((c) => c.observedGeneration === 1));
    assert.equal(w.events.filter((e) => e.ev.reason === 'Ready').length, 1);
    assert.equal(cond(w, name, 'Recording')?.reason, 'RecorderRunning');
    assert.deepEqual(status?.recording, { events: 3, headHash: 'cd'.repeat(32) });
  });

  it('an idle resync of a settled channel makes zero calls and writes nothing', async () => {
    const name = await readyChannel(w);
    w.cluster.clearCalls();
    const result = await w.reconciler.reconcile(name, w.rc);
    assert.deepEqual(w.cluster.calls, []);
    assert.ok((result.requeueAfter ?? 0) >= 60_000, 'only a real deadline (the recorder refresh) brings it back');
  });

  it('our own apply echo and a workload status change do not re-apply; drift does', async () => {
    const name = await readyChannel(w);
    const sts = [...w.cluster.objects.values()].find((o) => o.kind === 'StatefulSet');
    assert.ok(sts);
    w.cluster.clearCalls();
    assert.equal(w.reconciler.noteChildEvent(sts, false), name);
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.cluster.callsOf('apply').length, 0, 'the echo of our own apply');
    w.reconciler.noteChildEvent({ ...sts, metadata: { ...sts.metadata, resourceVersion: '99999' } }, false);
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.cluster.callsOf('apply').length, 0, 'a status change: same generation as applied');
    w.reconciler.noteChildEvent(
      { ...sts, metadata: { ...sts.metadata, resourceVersion: '99998', generation: 2 } },
      false,
    );
    await w.reconciler.reconcile(name, w.rc);
    assert.ok(w.cluster.callsOf('apply').length > 0, 'a foreign spec change is drift: applied again');
  });

  it('a child the apiserver refuses stalls the channel with the child and the field, an event, and backoff', async () => {
    w.cluster.putChannel(minimal());
    w.cluster.failApply.set(
      'Deployment/element',
      new ApiError(
        422,
        'Invalid',
        'PATCH /apis/apps/v1/x: 422 Invalid: Deployment.apps "element" is invalid: spec.template.spec.containers[0].image: Required value',
      ),
    );
    const r1 = await w.reconciler.reconcile('ir-2026-0042', w.rc);
    const stalled = cond(w, 'ir-2026-0042', 'Stalled');
    assert.equal(stalled?.status, 'True');
    assert.equal(stalled?.reason, 'ChildRejected');
    assert.match(stalled?.message ?? '', /Deployment .*element.*spec\.template\.spec\.containers\[0\]\.image/);
    assert.equal(w.cluster.channel('ir-2026-0042')?.status?.phase, 'Failed');
    assert.equal(cond(w, 'ir-2026-0042', 'Ready')?.reason, 'Stalled');
    assert.ok(w.events.some((e) => e.ev.type === 'Warning' && e.ev.reason === 'ChildRejected'));
    assert.ok((r1.requeueAfter ?? 0) >= 30_000, 'no hot retry');
    const warnings = () => w.events.filter((e) => e.ev.reason === 'ChildRejected').length;
    w.clock.now += 1_000;
    const woken = await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(woken.requeueAfter, (r1.requeueAfter ?? 0) - 1_000, 'woken inside the backoff: it keeps its end');
    assert.equal(warnings(), 1, 'and the same stall is not said again');
    w.clock.now += woken.requeueAfter ?? 0;
    const r2 = await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.ok((r2.requeueAfter ?? 0) > (r1.requeueAfter ?? 0), 'exponential backoff');
    assert.equal(warnings(), 2, 'said again once the backoff is over');
    // While stalled, the echo of one of its own applies wakes nothing; drift (someone else's change) does.
    const policy = [...w.cluster.objects.values()].find((o) => o.kind === 'NetworkPolicy');
    assert.ok(policy);
    assert.equal(w.reconciler.noteChildEvent(policy, false), undefined, 'our own echo, while stalled');
    const drifted = { ...policy, metadata: { ...policy.metadata, resourceVersion: 'someone-else' } };
    assert.equal(w.reconciler.noteChildEvent(drifted, false), 'ir-2026-0042', 'drift, while stalled');
    w.cluster.failApply.clear();
    w.cluster.putChannel(minimal({ title: 'fixed' }, { generation: 2 }));
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled'), undefined, 'a fixed spec clears Stalled');
    const echo = [...w.cluster.objects.values()].find((o) => o.kind === 'NetworkPolicy');
    assert.ok(echo);
    assert.equal(w.reconciler.noteChildEvent(echo, false), 'ir-2026-0042', 'no longer stalled: echoes read readiness');
  });

  it('a stalled channel closed: its teardown hears its children again', async () => {
    w.cluster.putChannel(minimal());
    w.cluster.failApply.set('Deployment/element', new ApiError(422, 'Invalid', 'Deployment.apps "element" is invalid'));
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled')?.reason, 'ChildRejected');
    const policy = [...w.cluster.objects.values()].find((o) => o.kind === 'NetworkPolicy');
    assert.ok(policy);
    assert.equal(w.reconciler.noteChildEvent(policy, false), undefined);
    w.cluster.putChannel(minimal({ closed: true }, { generation: 2 }));
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(w.cluster.channel('ir-2026-0042')?.status?.phase, 'Archiving');
    assert.equal(w.reconciler.noteChildEvent(policy, false), 'ir-2026-0042');
  });

  it('a quota refusal is retried with backoff, not Stalled: usage changes as the quota controller recounts', async () => {
    w.cluster.putChannel(minimal());
    w.cluster.failApply.set(
      'Service/synapse',
      new ApiError(
        403,
        'Forbidden',
        'PATCH /api/v1/x: 403 Forbidden: services "synapse" is forbidden: exceeded quota: warroom, requested: services.nodeports=11, used: services.nodeports=11, limited: services.nodeports=11',
      ),
    );
    await assert.rejects(w.reconciler.reconcile('ir-2026-0042', w.rc), /exceeded quota/);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled'), undefined);
    w.cluster.failApply.clear();
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(w.cluster.channel('ir-2026-0042')?.status?.phase, 'Provisioning');
  });

  it('a transient error is retried by the controller and shows in Reconciling after a minute', async () => {
    const name = await readyChannel(w);
    const participants = [
      { handle: 'falcon', role: 'lead' },
      { handle: 'heron', role: 'responder' },
      { handle: 'kite', role: 'observer' },
    ];
    w.cluster.putChannel(minimal({ participants }, { generation: 2 }));
    w.cluster.failApply.set(
      'Namespace/' + (w.cluster.channel(name)?.status?.namespace ?? ''),
      new ApiError(503, 'ServiceUnavailable', 'etcd leader changed'),
    );
    await assert.rejects(w.reconciler.reconcile(name, w.rc), /etcd leader changed/);
    assert.equal(cond(w, name, 'Reconciling'), undefined, 'not said in the first minute');
    w.clock.now += 61_000;
    await assert.rejects(w.reconciler.reconcile(name, w.rc));
    assert.equal(cond(w, name, 'Reconciling')?.reason, 'RetryingAfterError');
    assert.match(cond(w, name, 'Reconciling')?.message ?? '', /etcd leader changed/);
  });

  it('an invalid spec is Stalled InvalidSpec naming the field, and nothing is applied', async () => {
    w.cluster.putChannel(minimal({ ttl: '1m' }));
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    w.cluster.clearCalls();
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(w.cluster.callsOf('apply').length, 0);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled')?.reason, 'InvalidSpec');
    assert.match(cond(w, 'ir-2026-0042', 'Stalled')?.message ?? '', /spec\.ttl/);
  });

  it('a second live channel with the same caseId is Stalled DuplicateCaseId, naming the first, with no namespace', async () => {
    await readyChannel(w);
    const dup = minimal({}, { name: 'ir-2026-0042-again', creationTimestamp: '2026-12-01T10:05:00Z' });
    w.cluster.putChannel(dup);
    await w.reconciler.reconcile('ir-2026-0042-again', w.rc);
    w.cluster.clearCalls();
    await w.reconciler.reconcile('ir-2026-0042-again', w.rc);
    assert.equal(w.cluster.callsOf('apply').length, 0, 'no namespace for the duplicate');
    const stalled = cond(w, 'ir-2026-0042-again', 'Stalled');
    assert.equal(stalled?.reason, 'DuplicateCaseId');
    assert.match(stalled?.message ?? '', /ir-2026-0042\b/);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled'), undefined, 'the first one keeps its war room');
  });

  it('teardown order on close: Archiving → seal/archive/verify → namespace delete → Closed', async () => {
    const name = await readyChannel(w);
    w.cluster.putChannel(minimal({ closed: true }, { generation: 2 }));
    w.cluster.clearCalls();
    const origApply = w.cluster.applyStatus.bind(w.cluster);
    w.cluster.applyStatus = async (n, s, sig) => {
      w.order.push(`status:${s.phase}`);
      return origApply(n, s, sig);
    };
    const origDelete = w.cluster.delete.bind(w.cluster);
    w.cluster.delete = async (ref, o, sig) => {
      w.order.push(`delete:${ref.kind}`);
      return origDelete(ref, o, sig);
    };
    await w.reconciler.reconcile(name, w.rc);
    assert.deepEqual(w.order, ['status:Archiving', 'evidence.export', 'status:Archiving', 'delete:Namespace']);
    assert.equal(cond(w, name, 'EvidenceArchived')?.status, 'True');
    w.cluster.finishNamespaceDeletion(w.cluster.channel(name)?.status?.namespace ?? '');
    await w.reconciler.reconcile(name, w.rc);
    const status = w.cluster.channel(name)?.status;
    assert.equal(status?.phase, 'Closed');
    assert.equal(status?.archive?.location, '/evidence/x.tar');
    assert.equal(cond(w, name, 'Reconciling'), undefined);
    w.cluster.clearCalls();
    await w.reconciler.reconcile(name, w.rc);
    assert.deepEqual(w.cluster.calls, [], 'terminal: nothing is ever rebuilt');
  });

  it('the pass woken by its own status write, before the namespace cache shows the delete, deletes nothing twice', async () => {
    const name = await readyChannel(w);
    w.cluster.putChannel(minimal({ closed: true }, { generation: 2 }));
    w.cluster.namespaceCacheLags = true;
    await w.reconciler.reconcile(name, w.rc);
    w.cluster.clearCalls();
    await w.reconciler.reconcile(name, w.rc);
    assert.deepEqual(w.cluster.callsOf('delete'), [], 'the namespace delete was sent once');
    assert.equal(w.evidence.calls, 1, 'the evidence was exported once');
    w.cluster.showNamespaceDeletions();
    w.cluster.finishNamespaceDeletion(w.cluster.channel(name)?.status?.namespace ?? '');
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.cluster.channel(name)?.status?.phase, 'Closed');
    assert.deepEqual(w.teardowns, ['CaseClosed'], 'one teardown counted');
    assert.equal(w.events.filter((e) => e.ev.reason === 'NamespaceDeleted').length, 1);
  });

  it('an evidence failure keeps the namespace, says why, and retries later', async () => {
    const name = await readyChannel(w);
    w.evidence.outcome = { kind: 'failed', reason: 'RecorderUnreachable', message: 'could not seal: ECONNREFUSED' };
    w.cluster.putChannel(minimal({ closed: true }, { generation: 2 }));
    const r = await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.cluster.callsOf('delete').length, 0, 'no namespace deletion without verified evidence');
    assert.equal(cond(w, name, 'EvidenceArchived')?.reason, 'RecorderUnreachable');
    assert.equal(cond(w, name, 'Stalled')?.reason, 'EvidenceNotVerified');
    assert.match(cond(w, name, 'Stalled')?.message ?? '', /force-delete/);
    assert.equal(r.requeueAfter, 30_000);
    assert.ok(w.events.some((e) => e.ev.reason === 'EvidenceNotArchived'));
  });

  it('force-delete: an admin annotation lets the namespace go without verified evidence', async () => {
    const name = await readyChannel(w);
    w.evidence.outcome = { kind: 'failed', reason: 'ArchiveVerificationFailed', message: 'hash mismatch' };
    w.cluster.putChannel(
      minimal({ closed: true }, { generation: 2, annotations: { 'warroom.dev/force-delete': 'true' } }),
    );
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.cluster.callsOf('delete').length, 1);
    assert.equal(cond(w, name, 'EvidenceArchived')?.status, 'False', 'the record still says it was not verified');
  });

  it('expiry at the exact deadline: kept 1 ms before, torn down at it', async () => {
    const name = await readyChannel(w, minimal({ ttl: '10m' }));
    w.clock.now = CREATED + 10 * 60_000 - 1;
    const before = await w.reconciler.reconcile(name, w.rc);
    assert.equal(before.requeueAfter, 1);
    assert.equal(w.evidence.calls, 0);
    w.clock.now = CREATED + 10 * 60_000;
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.evidence.calls, 1);
    assert.equal(cond(w, name, 'Ready')?.reason, 'Archiving');
  });

  it('expiry warnings go out once each (Event and #control notice), and Ready reads Expiring', async () => {
    const name = await readyChannel(w, minimal({ ttl: '2h' }));
    w.clock.now = CREATED + HOUR + 1;
    await w.reconciler.reconcile(name, w.rc);
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.events.filter((e) => e.ev.reason === 'ExpiryWarning').length, 1);
    assert.equal(w.notices.length, 1);
    assert.equal(w.cluster.channel(name)?.status?.phase, 'Expiring');
    w.clock.now = CREATED + 2 * HOUR - 9 * 60_000;
    await w.reconciler.reconcile(name, w.rc);
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.events.filter((e) => e.ev.reason === 'ExpiryWarning').length, 2);
    assert.deepEqual(w.cluster.channel(name)?.status?.ttlWarningsSent, [HOUR, 10 * 60_000]);
  });

  it('a deleted channel is torn down with no status writes, then its finalizer goes', async () => {
    const name = await readyChannel(w);
    const live = w.cluster.channel(name);
    w.cluster.putChannel({
      ...minimal(),
      metadata: { ...live?.metadata, name, deletionTimestamp: '2026-12-01T11:00:00Z' },
      status: live?.status,
    });
    w.cluster.clearCalls();
    await w.reconciler.reconcile(name, w.rc);
    assert.equal(w.cluster.callsOf('applyStatus').length, 0);
    assert.equal(w.cluster.callsOf('delete').length, 1);
    w.cluster.finishNamespaceDeletion(live?.status?.namespace ?? '');
    await w.reconciler.reconcile(name, w.rc);
    assert.deepEqual(w.cluster.channel(name)?.metadata.finalizers, []);
  });

  it('a pod stuck on its image says so in the condition, and the channel is not polled', async () => {
    w.cluster.putChannel(minimal());
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    const ns = w.cluster.channel('ir-2026-0042')?.status?.namespace ?? '';
    w.cluster.setPod(ns, 'element', {
      waiting: [
        { container: 'element', image: 'example/element:404', reason: 'ImagePullBackOff', message: 'not found' },
      ],
    });
    const r = await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(cond(w, 'ir-2026-0042', 'ElementReady')?.reason, 'ImagePullBackOff');
    assert.match(cond(w, 'ir-2026-0042', 'Ready')?.message ?? '', /example\/element:404/);
    assert.ok((r.requeueAfter ?? Number.POSITIVE_INFINITY) >= 60 * 60_000 - 120_000, 'woken by pod events, not polled');
    w.cluster.clearCalls();
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.deepEqual(w.cluster.calls, [], 'a stuck channel with nothing changed costs nothing');
  });

  it('no relay block left in the NodePort range: Stalled RelayPortsExhausted, saying what to do', async () => {
    for (let min = 30000; min + 9 <= 32767; min += 10) {
      w.cluster.coturnHeld.push({ namespace: `wr-other-${min}`, block: { min, max: min + 9 } });
    }
    w.cluster.putChannel(minimal());
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    const r = await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled')?.reason, 'RelayPortsExhausted');
    assert.match(cond(w, 'ir-2026-0042', 'Stalled')?.message ?? '', /spec\.calls\.turn\.relayPorts/);
    assert.equal(w.cluster.callsOf('apply').length, 0);
    assert.ok((r.requeueAfter ?? 0) >= 30_000);
    assert.deepEqual(w.reconciler.awaitingRelayPorts(), ['ir-2026-0042'], 'woken when a block may be free');

    // Another war room closed: its coturn Service is gone from the cache, and the woken channel takes the block.
    w.cluster.coturnHeld.splice(0, 1);
    await w.reconciler.reconcile('ir-2026-0042', w.rc);
    assert.equal(cond(w, 'ir-2026-0042', 'Stalled'), undefined);
    assert.deepEqual(w.cluster.channel('ir-2026-0042')?.status?.relayPorts, { min: 30000, max: 30009 });
    assert.deepEqual(w.reconciler.awaitingRelayPorts(), []);
  });

  it('what may free a relay block: a coturn Service deleted, a channel closed, expired or deleted', () => {
    const svc = (component: string) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'x', namespace: 'wr-x', labels: { [LABEL_COMPONENT]: component } },
    });
    assert.equal(mayFreeRelayBlock({ service: svc('coturn'), deleted: true }), true);
    assert.equal(mayFreeRelayBlock({ service: svc('coturn'), deleted: false }), false);
    assert.equal(mayFreeRelayBlock({ service: svc('synapse'), deleted: true }), false);
    const live = w.cluster.putChannel(minimal());
    const closed = { ...live, status: { phase: 'Closed' as const } };
    assert.equal(mayFreeRelayBlock({ channel: closed, old: live, deleted: false }), true);
    assert.equal(
      mayFreeRelayBlock({ channel: closed, old: closed, deleted: false }),
      false,
      'once, not on every update',
    );
    assert.equal(mayFreeRelayBlock({ channel: live, old: undefined, deleted: false }), false);
    assert.equal(mayFreeRelayBlock({ channel: live, old: live, deleted: true }), true);
  });

  it('the stop signal reaches every request of a reconcile', async () => {
    const controller = new AbortController();
    w.cluster.putChannel(minimal());
    await w.reconciler.reconcile('ir-2026-0042', { log: silent, signal: controller.signal });
    await w.reconciler.reconcile('ir-2026-0042', { log: silent, signal: controller.signal });
    for (const c of w.cluster.calls) assert.equal(c.signal, controller.signal, `${c.verb} ${c.target}`);
    controller.abort(new Error('stop deadline'));
    w.cluster.putChannel(minimal({ title: 'x' }, { generation: 2 }));
    await assert.rejects(
      w.reconciler.reconcile('ir-2026-0042', { log: silent, signal: controller.signal }),
      /stop deadline/,
    );
  });
});
