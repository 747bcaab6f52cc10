import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, offsetClock, startTestOperator, testShard } from '../support/operator.ts';

const cluster = useCluster();
const shard = testShard();
const MIN = 60_000;
let operator: Operator;
// A second operator whose clock runs 9 min 50 s ahead: a 10 min TTL (the minimum) ends ~10 s after creation.
const fastShard = testShard();
let fastOperator: Operator;

interface Channel {
  metadata: { name: string; uid: string; finalizers?: string[] };
  status?: {
    phase?: string;
    namespace?: string;
    expiresAt?: string;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

before(async () => {
  await installCrd(await cluster.ready());
  operator = await startTestOperator(cluster(), { selector: shard.selector });
  fastOperator = await startTestOperator(cluster(), {
    selector: fastShard.selector,
    clock: offsetClock(9 * MIN + 50_000),
  });
});
after(async () => {
  await operator?.stop();
  await fastOperator?.stop();
});

const k = () => kubectl(cluster());
const newName = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;
const channel = (name: string, spec: Record<string, unknown> = {}, s = shard) => ({
  apiVersion: 'warroom.dev/v1alpha1',
  kind: 'IncidentChannel',
  metadata: { name, labels: { [s.label]: s.value } },
  spec: { caseId: name, ttl: '72h', participants: [{ handle: 'falcon', role: 'lead' }], ...spec },
});
const getChannel = (name: string) => k().getJson<Channel>(['incidentchannel', name]);
const condition = (c: Channel | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);
const waitPhase = (name: string, phase: string | string[], timeoutMs = 90_000) =>
  eventually(
    `${name} phase ${phase}`,
    async () => {
      const c = await getChannel(name);
      return [phase].flat().includes(c?.status?.phase ?? '') ? c : undefined;
    },
    timeoutMs,
  );
const namespaceGone = (ns: string, timeoutMs = 60_000) =>
  eventually(`namespace ${ns} gone`, async () => (await k().getJson(['namespace', ns])) === undefined, timeoutMs);

test('create: the namespace and its children exist and the channel becomes Ready', async () => {
  const name = newName('create');
  await k().apply(channel(name));
  const ready = await waitPhase(name, 'Ready');
  const ns = ready.status?.namespace ?? '';
  assert.match(ns, /^wr-create-[0-9a-f]{6}-[0-9a-f]{6}$/);
  assert.deepEqual(ready.metadata.finalizers, ['warroom.dev/teardown']);
  assert.equal(condition(ready, 'Ready')?.status, 'True');
  assert.equal(condition(ready, 'Stalled'), undefined, 'kstatus: Stalled only while true');
  assert.equal(condition(ready, 'NamespaceReady')?.status, 'True');
  assert.equal(ready.status?.observedGeneration, 1);
  assert.ok(ready.status?.expiresAt);

  const namespace = await k().getJson<{
    metadata: { labels: Record<string, string>; ownerReferences: { uid: string }[] };
  }>(['namespace', ns]);
  assert.equal(namespace?.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(namespace?.metadata.ownerReferences[0]?.uid, ready.metadata.uid);
  const policies = await k().getJson<{ items: { metadata: { name: string } }[] }>(['networkpolicies', '-n', ns]);
  assert.ok(policies?.items.some((p) => p.metadata.name === 'default-deny'));
  const quota = await k().getJson(['resourcequota', 'warroom', '-n', ns]);
  assert.ok(quota);
  const sa = await k().getJson<{ automountServiceAccountToken: boolean }>(['serviceaccount', 'default', '-n', ns]);
  assert.equal(sa?.automountServiceAccountToken, false);

  const events = await k().exec(['get', 'events.events.k8s.io', '-n', 'default', '-o', 'json']);
  assert.match(
    events,
    new RegExp(`"reason": "Ready"[\\s\\S]*?"name": "${name}"|"name": "${name}"[\\s\\S]*?"reason": "Ready"`),
  );
});

test('drift: a deleted child comes back', async () => {
  const name = newName('drift');
  await k().apply(channel(name));
  const ns = (await waitPhase(name, 'Ready')).status?.namespace ?? '';
  await k().exec(['delete', 'networkpolicy', 'default-deny', '-n', ns]);
  await eventually('default-deny restored', async () => k().getJson(['networkpolicy', 'default-deny', '-n', ns]));
});

test('closure: spec.closed tears the namespace down and ends Closed', async () => {
  const name = newName('close');
  await k().apply(channel(name));
  const ns = (await waitPhase(name, 'Ready')).status?.namespace ?? '';
  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  const closed = await waitPhase(name, 'Closed', 60_000);
  await namespaceGone(ns);
  assert.equal(condition(closed, 'Ready')?.reason, 'CaseClosed');
});

test('TTL: a channel whose TTL runs out is torn down and ends Expired', async () => {
  const name = newName('ttl');
  await k().apply(channel(name, { ttl: '10m' }, fastShard));
  // With 10 s left both expiry warnings (T-1h, T-10m) are already due, so it is Expiring rather than Ready.
  const ready = await waitPhase(name, ['Ready', 'Expiring']);
  assert.equal(condition(ready, 'Ready')?.status, 'True');
  const ns = ready.status?.namespace ?? '';
  const expired = await waitPhase(name, 'Expired', 60_000);
  await namespaceGone(ns);
  assert.equal(condition(expired, 'Ready')?.reason, 'TTLExpired');
});

test('deleting the channel tears the namespace down before the CR goes', async () => {
  const name = newName('delete');
  await k().apply(channel(name));
  const ns = (await waitPhase(name, 'Ready')).status?.namespace ?? '';
  await k().exec(['delete', 'incidentchannel', name, '--wait=false']);
  await eventually('channel gone', async () => (await getChannel(name)) === undefined, 60_000);
  await namespaceGone(ns);
});

test('an invalid spec that the CRD admits is Stalled with a readable reason, and the operator carries on', async () => {
  const name = newName('stall');
  // Look-alike pseudonyms invite impersonation; the CRD cannot see it, zod does.
  await k().apply(
    channel(name, {
      participants: [
        { handle: 'alice', role: 'lead' },
        { handle: 'a1ice', role: 'responder' },
      ],
    }),
  );
  const failed = await waitPhase(name, 'Failed');
  const stalled = condition(failed, 'Stalled');
  assert.equal(stalled?.status, 'True');
  assert.equal(stalled?.reason, 'InvalidSpec');
  assert.match(stalled?.message ?? '', /look alike/);
  // Fixing the spec recovers it.
  await k().exec([
    'patch',
    'incidentchannel',
    name,
    '--type=merge',
    '-p',
    '{"spec":{"participants":[{"handle":"alice","role":"lead"},{"handle":"bob","role":"responder"}]}}',
  ]);
  await waitPhase(name, 'Ready');
});

test('extending the ttl before expiry moves expiresAt by the same amount', async () => {
  const name = newName('extend');
  await k().apply(channel(name, { ttl: '24h' }));
  const before = Date.parse((await waitPhase(name, 'Ready')).status?.expiresAt ?? '');
  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"ttl":"48h"}}']);
  const moved = await eventually('expiresAt moved', async () => {
    const c = await getChannel(name);
    const at = Date.parse(c?.status?.expiresAt ?? '');
    return at !== before ? at : undefined;
  });
  assert.equal(moved - before, 24 * 3_600_000);
  const c = await getChannel(name);
  assert.equal(c?.status?.observedGeneration, 2);
});
