// The reconcile core on the real control plane (kwok node): every example as a user applies it reaches Ready and
// `kubectl wait` reads it; a child the apiserver refuses (a real admission policy, as platform teams run) stalls the
// channel with the child and the apiserver's words; a duplicate caseId gets no namespace; a settled channel is quiet.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';

const run = promisify(execFile);
const cluster = useCluster();
const shard = testShard();
let operator: Operator;

interface Channel {
  metadata: { name: string; generation?: number };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    namespace?: string;
    observedGeneration?: number;
    endpoints?: { element?: string; homeserver?: string; turn?: string[] };
    conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[];
  };
}

before(async () => {
  await installCrd(await cluster.ready());
  operator = await startTestOperator(cluster(), { selector: shard.selector });
});
after(async () => {
  await operator?.stop();
});

const k = () => kubectl(cluster());
const suffix = () => randomBytes(3).toString('hex');
/** An example file as a user applies it; only a name suffix and the test shard's label are added. */
function example(file: 'minimal.yaml' | 'full.yaml' | 'kind.yaml'): Channel & { apiVersion: string; kind: string } {
  const doc = parse(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8'));
  return {
    ...doc,
    metadata: { ...doc.metadata, name: `${doc.metadata.name}-${suffix()}`, labels: { [shard.label]: shard.value } },
  };
}
const get = (name: string) => k().getJson<Channel>(['incidentchannel', name]);
const cond = (c: Channel | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);
/**
 * `kubectl wait` as a user runs it. Bounded generously (a loaded CI machine ran the two examples past 120 s; 20 s
 * when idle); on a timeout the error carries the channel's conditions, so the failure says where it stopped.
 */
const kubectlWait = (name: string, condition: string, timeout = '300s') =>
  run(cluster().binaries.kubectl, [
    '--kubeconfig',
    cluster().kubeconfig,
    'wait',
    `--for=condition=${condition}`,
    `incidentchannel/${name}`,
    `--timeout=${timeout}`,
  ]).catch(async (err: unknown) => {
    const conditions = ((await get(name).catch(() => undefined))?.status?.conditions ?? [])
      .map((x) => `${x.type}=${x.status} ${x.reason}: ${x.message}`)
      .join('\n  ');
    throw new Error(`${(err as Error).message}\nconditions of ${name}:\n  ${conditions}`);
  });
const close = async (name: string) => {
  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  await eventually(
    `${name} closed`,
    async () => ['Closed', 'Expired'].includes((await get(name))?.status?.phase ?? ''),
    120_000,
  );
};

test('examples/minimal.yaml and examples/full.yaml reach Ready as applied; kubectl wait reads it', async () => {
  const minimal = example('minimal.yaml');
  const full = example('full.yaml');
  await k().apply(minimal);
  await k().apply(full);
  for (const c of [minimal, full]) {
    await kubectlWait(c.metadata.name, 'Ready');
    const live = await get(c.metadata.name);
    assert.equal(live?.status?.phase, 'Ready', c.metadata.name);
    assert.equal(cond(live, 'Reconciling'), undefined, 'kstatus: Reconciling only while true');
    assert.equal(cond(live, 'Stalled'), undefined, 'kstatus: Stalled only while true');
    for (const x of live?.status?.conditions ?? [])
      assert.equal(x.observedGeneration, live?.metadata.generation, x.type);
  }
  const liveFull = await get(full.metadata.name);
  // The bug that kept full.yaml without any status: the TURN URIs are a list, as the CRD says.
  assert.deepEqual(liveFull?.status?.endpoints?.turn, [
    'turn:turn.ir-0043.example.org:32000?transport=udp',
    'turn:turn.ir-0043.example.org:32000?transport=tcp',
  ]);
  assert.equal(liveFull?.status?.endpoints?.element, 'https://chat.ir-0043.example.org');
  assert.equal(cond(liveFull, 'SynapseReady')?.status, 'True', 'Synapse and its Postgres');
  assert.equal(cond(liveFull, 'TurnReady')?.status, 'True');
  // The Ingress names a cert-manager ClusterIssuer that is not installed: the Ingress exists, the channel is Ready,
  // and TLS stays the issuer's business (no condition of ours claims a certificate).
  const ingress = await k().getJson<{ metadata: { annotations?: Record<string, string> } }>([
    'ingress',
    '-n',
    liveFull?.status?.namespace ?? '',
    'warroom',
  ]);
  assert.equal(ingress?.metadata.annotations?.['cert-manager.io/cluster-issuer'], 'offline-ca');
  await Promise.all([close(minimal.metadata.name), close(full.metadata.name)]);
});

test('examples/kind.yaml reaches Ready as applied, its coturn on the ports kind-config.yaml maps', async () => {
  // After the test above closed full.yaml, which pins the same 32000-32019.
  const c = example('kind.yaml');
  await k().apply(c);
  await kubectlWait(c.metadata.name, 'Ready');
  const live = await get(c.metadata.name);
  assert.deepEqual(live?.status?.endpoints?.turn, [
    'turn:127.0.0.1:32000?transport=udp',
    'turn:127.0.0.1:32000?transport=tcp',
  ]);
  const service = await k().getJson<{ spec: { ports: { nodePort?: number }[] } }>([
    'service',
    '-n',
    live?.status?.namespace ?? '',
    'coturn',
  ]);
  const nodePorts = new Set(service?.spec.ports.map((p) => p.nodePort));
  assert.deepEqual(
    [...nodePorts].sort(),
    Array.from({ length: 20 }, (_, i) => 32000 + i),
  );
  await close(c.metadata.name);
});

test('a child the apiserver refuses (an admission policy) stalls with the child and the reason, then recovers', async () => {
  const c = example('minimal.yaml');
  c.spec = { ...c.spec, caseId: `vap-${suffix()}` };
  const policy = `warroom-test-deny-${suffix()}`;
  // A ValidatingAdmissionPolicy, built into the apiserver: what a platform team's guardrail looks like to us.
  await k().apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: policy },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] },
        ],
      },
      matchConditions: [{ name: 'element-config', expression: "object.metadata.name == 'element-config'" }],
      validations: [{ expression: 'false', message: 'element config maps are frozen by the platform team' }],
    },
  });
  await k().apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policy },
    spec: {
      policyName: policy,
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'warroom.dev/channel': c.metadata.name } } },
    },
  });
  try {
    // The binding needs a moment to be served by the apiserver's policy cache.
    await new Promise((r) => setTimeout(r, 2_000));
    await k().apply(c);
    await kubectlWait(c.metadata.name, 'Stalled', '90s');
    const stalled = await get(c.metadata.name);
    const s = cond(stalled, 'Stalled');
    assert.equal(s?.reason, 'ChildRejected');
    assert.match(s?.message ?? '', /ConfigMap .*element-config/);
    assert.match(s?.message ?? '', /frozen by the platform team/);
    assert.equal(stalled?.status?.phase, 'Failed');
    const events = await k().exec([
      'get',
      'events.events.k8s.io',
      '-A',
      '--field-selector',
      `regarding.name=${c.metadata.name},reason=ChildRejected`,
      '-o',
      'name',
    ]);
    assert.ok(events.trim().length > 0, 'a Warning event');
  } finally {
    await k().exec(['delete', 'validatingadmissionpolicybinding', policy, '--ignore-not-found']);
    await k().exec(['delete', 'validatingadmissionpolicy', policy, '--ignore-not-found']);
  }
  // Removing the guardrail: the next attempt (backoff, or a spec change now) succeeds and Stalled goes away.
  await k().exec(['patch', 'incidentchannel', c.metadata.name, '--type=merge', '-p', '{"spec":{"title":"retry"}}']);
  await kubectlWait(c.metadata.name, 'Ready');
  assert.equal(cond(await get(c.metadata.name), 'Stalled'), undefined);
  await close(c.metadata.name);
});

test('a second live channel with the same caseId is Stalled DuplicateCaseId and gets no namespace', async () => {
  const first = example('minimal.yaml');
  const caseId = `dup-${suffix()}`;
  first.spec = { ...first.spec, caseId };
  const second = example('minimal.yaml');
  second.spec = { ...second.spec, caseId };
  await k().apply(first);
  await kubectlWait(first.metadata.name, 'Ready');
  await k().apply(second);
  await kubectlWait(second.metadata.name, 'Stalled', '60s');
  const dup = await get(second.metadata.name);
  assert.equal(cond(dup, 'Stalled')?.reason, 'DuplicateCaseId');
  assert.match(cond(dup, 'Stalled')?.message ?? '', new RegExp(first.metadata.name));
  assert.equal(dup?.status?.namespace, undefined, 'no namespace for the duplicate');
  await close(first.metadata.name);
  await close(second.metadata.name);
});

test('relay ports pinned where another war room holds them: Stalled RelayPortsTaken naming it, Ready once it closes', async () => {
  // 32200+: outside the band the test operators allocate from and outside full.yaml's pinned ports.
  const pin = (min: number) => ({ enabled: true, turn: { relayPorts: { min, max: min + 19 } } });
  const holder = example('minimal.yaml');
  holder.spec = { ...holder.spec, caseId: `hold-${suffix()}`, calls: pin(32200) };
  const late = example('minimal.yaml');
  late.spec = { ...late.spec, caseId: `late-${suffix()}`, calls: pin(32210) };
  await k().apply(holder);
  await kubectlWait(holder.metadata.name, 'Ready');
  await k().apply(late);
  await kubectlWait(late.metadata.name, 'Stalled', '60s');
  const stalled = await get(late.metadata.name);
  assert.equal(cond(stalled, 'Stalled')?.reason, 'RelayPortsTaken');
  assert.match(
    cond(stalled, 'Stalled')?.message ?? '',
    new RegExp(`32210-32229 overlaps ports 32200-32219 held by .*IncidentChannel ${holder.metadata.name}`),
  );
  // The holder's war room goes, its coturn Service with it: the late channel is woken and comes up on its own.
  await close(holder.metadata.name);
  await kubectlWait(late.metadata.name, 'Ready', '180s');
  await close(late.metadata.name);
});
