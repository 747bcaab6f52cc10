// Teardown with the evidence policy every real war room runs under (`require`): when the transcript cannot be sealed
// and verified, the namespace stays and the channel says why, until an admin forces deletion with the annotation.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';

const cluster = useCluster();
const shard = testShard();
let operator: Operator;

interface Channel {
  metadata: { name: string };
  status?: {
    phase?: string;
    namespace?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

before(async () => {
  await installCrd(await cluster.ready());
  // kwok runs no pod, so no recorder answers: exactly the "cannot verify" case, with the production policy.
  operator = await startTestOperator(cluster(), { selector: shard.selector, args: ['--evidence-policy=require'] });
});
after(async () => {
  await operator?.stop();
});

const k = () => kubectl(cluster());
const condition = (c: Channel | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);

test('an unverifiable transcript keeps the namespace (Archiving, EvidenceArchived=False) until forced', async () => {
  const name = `evidence-${randomBytes(3).toString('hex')}`;
  await k().apply({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, labels: { [shard.label]: shard.value } },
    spec: { caseId: name, ttl: '72h', participants: [{ handle: 'falcon', role: 'lead' }] },
  });
  const ready = await eventually('Ready', async () => {
    const c = await k().getJson<Channel>(['incidentchannel', name]);
    return c?.status?.phase === 'Ready' ? c : undefined;
  });
  const ns = ready.status?.namespace ?? '';
  // The recorder is asked for its figures once Synapse is up; here it never answers, and the condition says so.
  assert.equal(condition(ready, 'Recording')?.status, 'False');
  assert.equal(condition(ready, 'Recording')?.reason, 'RecorderUnreachable');

  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  const stuck = await eventually('EvidenceArchived=False', async () => {
    const c = await k().getJson<Channel>(['incidentchannel', name]);
    return condition(c, 'EvidenceArchived')?.status === 'False' ? c : undefined;
  });
  assert.equal(stuck.status?.phase, 'Archiving');
  assert.equal(condition(stuck, 'EvidenceArchived')?.reason, 'RecorderUnreachable');
  assert.match(condition(stuck, 'Stalled')?.message ?? '', /warroom\.dev\/force-delete=true/);
  // Held: a few seconds later the namespace is still there and not terminating.
  await new Promise((r) => setTimeout(r, 3_000));
  const namespace = await k().getJson<{ metadata: { deletionTimestamp?: string } }>(['namespace', ns]);
  assert.ok(namespace, 'the namespace must stay while the evidence is not verified');
  assert.equal(namespace.metadata.deletionTimestamp, undefined);
  const events = await k().exec(['get', 'events.events.k8s.io', '-n', 'default', '-o', 'json']);
  assert.match(events, /EvidenceNotArchived/);

  await k().exec(['annotate', 'incidentchannel', name, 'warroom.dev/force-delete=true']);
  const closed = await eventually(
    'Closed after force',
    async () => {
      const c = await k().getJson<Channel>(['incidentchannel', name]);
      return c?.status?.phase === 'Closed' ? c : undefined;
    },
    60_000,
  );
  await eventually('namespace gone', async () => (await k().getJson(['namespace', ns])) === undefined, 60_000);
  // The record keeps saying the evidence was NOT archived: forcing never pretends otherwise.
  assert.equal(condition(closed, 'EvidenceArchived')?.status, 'False');
});
