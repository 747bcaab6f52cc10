// Every generated secret value, read back with admin rights, must appear nowhere else: not in the operator's logs
// (debug level), the channel's status, events, ConfigMaps, or any workload spec.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';

const cluster = useCluster();
const shard = testShard();
const logs: string[] = [];
let operator: Operator;

before(async () => {
  await installCrd(await cluster.ready());
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  operator = await startTestOperator(cluster(), { selector: shard.selector, logTo: sink });
});
after(async () => operator?.stop());

interface Json {
  items: { data?: Record<string, string> }[];
}

test('no generated secret value appears in logs, status, events, ConfigMaps or workload specs', async () => {
  const k = kubectl(cluster());
  const name = `leak-${randomBytes(3).toString('hex')}`;
  const channel = (participants: { handle: string; role: string }[]) => ({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, labels: { [shard.label]: shard.value } },
    spec: { caseId: name, ttl: '24h', database: 'postgres', participants },
  });
  await k.apply(
    channel([
      { handle: 'falcon', role: 'lead' },
      { handle: 'heron', role: 'responder' },
    ]),
  );
  const ns = await eventually(
    'Ready',
    async () => {
      const ic = await k.getJson<{ status?: { phase?: string; namespace?: string } }>(['incidentchannel', name]);
      return ic?.status?.phase === 'Ready' ? ic.status.namespace : undefined;
    },
    60_000,
  );
  // A spec change (new participant → a new Secret, a new Job) and a closure produce more logs and events.
  await k.apply(
    channel([
      { handle: 'falcon', role: 'lead' },
      { handle: 'heron', role: 'responder' },
      { handle: 'wren', role: 'scribe' },
    ]),
  );
  await eventually('third participant secret', async () => {
    const list = await k.getJson<{ items: { metadata: { name: string } }[] }>(['secrets', '-n', ns ?? '']);
    return list?.items.some((s) => s.metadata.name.includes('wren'));
  });

  const secrets = await k.getJson<Json>(['secrets', '-n', ns ?? '']);
  const values = new Set<string>();
  for (const s of secrets?.items ?? []) {
    for (const b64 of Object.values(s.data ?? {})) {
      const plain = Buffer.from(b64, 'base64').toString('utf8').trim();
      for (const line of plain.split('\n')) {
        const v = line.includes(' ') ? (line.split(' ').at(-1) ?? '') : line; // the signing key's seed, or pgpass' password
        const secret = v.includes(':') ? (v.split(':').at(-1) ?? '') : v;
        if (secret.length >= 16) values.add(secret);
      }
    }
  }
  assert.ok(values.size >= 8, `found ${values.size} generated secret values to look for`);

  await k.exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  await eventually(
    'Closed',
    async () => {
      const ic = await k.getJson<{ status?: { phase?: string } }>(['incidentchannel', name]);
      return ic?.status?.phase === 'Closed';
    },
    90_000,
  );

  const haystacks: Record<string, string> = {
    'operator logs': logs.join(''),
    'channel (spec and status)': await k.exec(['get', 'incidentchannel', name, '-o', 'json']),
    'events in default': await k.exec(['get', 'events.events.k8s.io', '-n', 'default', '-o', 'json']),
  };
  assert.ok(haystacks['operator logs']?.includes('"reconcileID"'), 'the operator logged at debug level');
  for (const [where, text] of Object.entries(haystacks)) {
    for (const v of values) {
      assert.equal(text.includes(v), false, `a generated secret value appears in ${where}`);
      assert.equal(text.includes(Buffer.from(v).toString('base64')), false, `a base64 secret appears in ${where}`);
    }
  }
});

test('ConfigMaps and workload specs of a live channel carry no secret value', async () => {
  const k = kubectl(cluster());
  const name = `leak2-${randomBytes(3).toString('hex')}`;
  await k.apply({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, labels: { [shard.label]: shard.value } },
    spec: { caseId: name, ttl: '24h', participants: [{ handle: 'falcon', role: 'lead' }] },
  });
  const ns =
    (await eventually(
      'Ready',
      async () => {
        const ic = await k.getJson<{ status?: { phase?: string; namespace?: string } }>(['incidentchannel', name]);
        return ic?.status?.phase === 'Ready' ? ic.status.namespace : undefined;
      },
      60_000,
    )) ?? '';
  const secrets = await k.getJson<Json>(['secrets', '-n', ns]);
  const values = (secrets?.items ?? [])
    .flatMap((s) => Object.values(s.data ?? {}))
    .map((b64) => Buffer.from(b64, 'base64').toString('utf8').trim().split(' ').at(-1) ?? '')
    .filter((v) => v.length >= 16);
  assert.ok(values.length >= 6);
  const specs = await k.exec(['get', 'configmaps,statefulsets,deployments,jobs,pods,services', '-n', ns, '-o', 'json']);
  for (const v of values) assert.equal(specs.includes(v), false, 'a secret value is in a ConfigMap or a workload spec');
});
