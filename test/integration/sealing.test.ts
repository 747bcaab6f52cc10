// Sealed mode end to end on the real apiserver: an unreachable controller stalls the channel with a clear reason
// (no crash loop); with the controller's certificate, the operator's SealedSecrets unseal with the real kubeseal.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';
import { kubesealBinary } from '../support/sealed-secrets-kubeseal.ts';

const run = promisify(execFile);
const cluster = useCluster();
const operators: Operator[] = [];
let dir: string;

const SEALED_SECRET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'sealedsecrets.bitnami.com' },
  spec: {
    group: 'bitnami.com',
    names: { kind: 'SealedSecret', listKind: 'SealedSecretList', plural: 'sealedsecrets', singular: 'sealedsecret' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

before(async () => {
  await installCrd(await cluster.ready());
  const k = kubectl(cluster());
  await k.exec(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify(SEALED_SECRET_CRD));
  await k.exec(['wait', '--for=condition=Established', 'crd/sealedsecrets.bitnami.com', '--timeout=60s']);
  dir = await mkdtemp(join(tmpdir(), 'warroom-sealing-'));
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:4096',
    '-nodes',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
    '-subj',
    '/CN=sealed-secret',
    '-days',
    '2',
  ]);
});
after(async () => {
  for (const o of operators) await o.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const channel = (name: string, s: ReturnType<typeof testShard>) => ({
  apiVersion: 'warroom.dev/v1alpha1',
  kind: 'IncidentChannel',
  metadata: { name, labels: { [s.label]: s.value } },
  spec: { caseId: name, ttl: '24h', participants: [{ handle: 'falcon', role: 'lead' }] },
});

test('an unreachable sealed-secrets controller gives a clear Stalled reason, not a crash loop', async () => {
  const shard = testShard();
  const op = await startTestOperator(cluster(), {
    selector: shard.selector,
    args: ['--secrets=sealed', '--sealed-secrets-service=no-such-controller'],
  });
  operators.push(op);
  const k = kubectl(cluster());
  const name = `unsealable-${randomBytes(3).toString('hex')}`;
  await k.apply(channel(name, shard));
  const stalled = await eventually('Stalled', async () => {
    const ic = await k.getJson<{
      status?: { phase?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
    }>(['incidentchannel', name]);
    const c = ic?.status?.conditions?.find((x) => x.type === 'Stalled' && x.status === 'True');
    return c ? { c, phase: ic?.status?.phase } : undefined;
  });
  assert.equal(stalled.c.reason, 'SealedSecretsUnavailable');
  assert.match(stalled.c.message, /sealed-secrets controller is unreachable.*--secrets=plain/s);
  assert.equal(stalled.phase, 'Failed', 'Stalled: a human must act (install the controller or pass --secrets=plain)');
  assert.ok(op.ready(), 'the operator keeps running');
});

test('with the controller certificate, the operator seals strict-scope SealedSecrets that the real kubeseal unseals', async () => {
  const shard = testShard();
  const op = await startTestOperator(cluster(), {
    selector: shard.selector,
    args: ['--secrets=sealed', `--sealing-cert=${join(dir, 'cert.pem')}`],
  });
  operators.push(op);
  const k = kubectl(cluster());
  const name = `sealed-${randomBytes(3).toString('hex')}`;
  await k.apply(channel(name, shard));
  const ns = await eventually('SecretsSealed', async () => {
    const ic = await k.getJson<{ status?: { namespace?: string; conditions?: { type: string; status: string }[] } }>([
      'incidentchannel',
      name,
    ]);
    return ic?.status?.conditions?.some((c) => c.type === 'SecretsSealed' && c.status === 'True')
      ? ic.status?.namespace
      : undefined;
  });
  const list = await k.getJson<{ items: { metadata: { name: string; annotations?: Record<string, string> } }[] }>([
    'sealedsecrets',
    '-n',
    ns ?? '',
  ]);
  const names = list?.items.map((s) => s.metadata.name) ?? [];
  assert.ok(names.includes('synapse-secrets'), names.join(','));
  assert.equal(
    await k.getJson(['secret', 'synapse-secrets', '-n', ns ?? '']),
    undefined,
    'no plaintext Secret was created by the operator',
  );

  const kubeseal = await kubesealBinary();
  for (const secretName of names) {
    const sealed = await k.exec(['get', 'sealedsecret', secretName, '-n', ns ?? '', '-o', 'yaml']);
    const p = run(kubeseal, ['--recovery-unseal', '--recovery-private-key', join(dir, 'key.pem'), '-o', 'json'], {
      env: { ...process.env, KUBECONFIG: '/nonexistent' },
    });
    p.child.stdin?.end(sealed);
    const { stdout } = await p;
    const secret = JSON.parse(stdout) as {
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    assert.equal(secret.metadata.name, secretName);
    assert.ok(Object.values(secret.data).every((v) => Buffer.from(v, 'base64').length > 0));
  }
  // Re-sealing would rotate Synapse's keys: a later reconcile must leave the SealedSecrets untouched.
  const before = await k.exec([
    'get',
    'sealedsecret',
    'synapse-secrets',
    '-n',
    ns ?? '',
    '-o',
    'jsonpath={.metadata.resourceVersion}',
  ]);
  await k.exec(['annotate', 'incidentchannel', name, `warroom.dev/poke=${Date.now()}`]);
  await new Promise((r) => setTimeout(r, 3000));
  const afterRv = await k.exec([
    'get',
    'sealedsecret',
    'synapse-secrets',
    '-n',
    ns ?? '',
    '-o',
    'jsonpath={.metadata.resourceVersion}',
  ]);
  assert.equal(afterRv, before);
});
