// Every object of one full channel (examples/full.yaml through the real API schema) against the real apiserver: the
// Namespace is created for real with its PSA labels, then everything else goes through server-side dry-run, so the
// apiserver's own validation, defaulting and Pod Security admission judge what the builders produce.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { channelState, toChannel } from '../../src/controllers/incidentchannel/channel.ts';
import { type BuildContext, buildContext } from '../../src/controllers/incidentchannel/context-from-spec.ts';
import { buildDesired } from '../../src/controllers/incidentchannel/desired/index.ts';
import {
  liveKitCredentials,
  renderSecret,
  secretPlan,
  secretValues,
} from '../../src/controllers/incidentchannel/desired/secrets.ts';
import { generateSecretMaterial, generateToken } from '../../src/crypto/secret-material.ts';
import type { KubeObject } from '../../src/kube/objects.ts';
import { type TestCluster, useCluster } from '../cluster/index.ts';

const run = promisify(execFile);
const cluster = useCluster();
let ctx: BuildContext;
let desired: KubeObject[];

/** kubectl with the manifest on stdin; stderr is returned too, because PodSecurity speaks there as warnings. */
async function kubectl(
  c: TestCluster,
  args: string[],
  manifest?: unknown,
): Promise<{ stdout: string; stderr: string }> {
  const child = run(c.binaries.kubectl, ['--kubeconfig', c.kubeconfig, ...args], { maxBuffer: 64 << 20 });
  if (manifest !== undefined) child.child.stdin?.end(JSON.stringify(manifest));
  return child;
}

before(async () => {
  await cluster.ready();
  const doc = parse(readFileSync(new URL('../../examples/full.yaml', import.meta.url), 'utf8')) as KubeObject & {
    spec: { calls: { turn: Record<string, unknown>; sfu: Record<string, unknown> } };
  };
  // A dry-run create checks NodePort allocation too, and reconcile-core.test.ts may hold full.yaml's pinned ports in
  // the same cluster at this moment: the plan here asks for ports nothing else in the test cluster pins.
  const calls = doc.spec.calls;
  calls.turn.relayPorts = { min: 32100, max: 32119 };
  calls.sfu = { ...calls.sfu, tcpPort: 32120, udpPort: 32121 };
  // A fresh uid: a fresh namespace, so a re-run never meets the leftovers of a previous one.
  const channel = toChannel({ ...doc, metadata: { ...doc.metadata, uid: randomUUID() } });
  const state = channelState(channel);
  if (!state) throw new Error(channel.parsed.ok ? 'unparsed' : channel.parsed.error);
  ctx = buildContext(state, {
    namespacePrefix: 'dry',
    network: {
      podCidrs: ['10.244.0.0/16'],
      serviceCidrs: ['10.96.0.0/12'],
      nodeCidrs: ['127.0.0.0/8'],
      dnsNamespace: 'kube-system',
      dnsPodLabels: { 'k8s-app': 'kube-dns' },
      ingressNamespaceLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' },
      monitoringNamespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
      operatorNamespace: 'warroom-system',
    },
  });
  desired = buildDesired(ctx);
});

after(async () => {
  if (ctx) await kubectl(cluster(), ['delete', 'namespace', ctx.namespace, '--wait=false']).catch(() => undefined);
});

test('the full example: the Namespace is created with PSA restricted, every other object passes a server dry-run', async () => {
  const c = cluster();
  const [namespace, ...rest] = desired;
  assert.equal(namespace?.kind, 'Namespace');
  // No IncidentChannel owns it in this test: with a dangling ownerReference the garbage collector would delete it.
  const { ownerReferences: _, ...metadata } = namespace.metadata;
  await kubectl(c, ['apply', '-f', '-'], { ...namespace, metadata });
  const live = JSON.parse((await kubectl(c, ['get', 'namespace', ctx.namespace, '-o', 'json'])).stdout) as KubeObject;
  assert.equal(live.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');

  const kinds = new Set(rest.map((o) => o.kind));
  for (const kind of ['NetworkPolicy', 'ConfigMap', 'Service', 'StatefulSet', 'Deployment', 'Ingress', 'Role', 'Job']) {
    assert.ok(kinds.has(kind), `the full example builds a ${kind}`);
  }
  const { stdout, stderr } = await kubectl(c, ['apply', '--dry-run=server', '-f', '-'], {
    apiVersion: 'v1',
    kind: 'List',
    items: rest,
  });
  for (const o of rest) {
    assert.match(stdout, new RegExp(`${o.metadata.name} (created|configured|unchanged) \\(server dry run\\)`), o.kind);
  }
  // The namespace warns (warn=restricted) for any workload whose pod template would be refused...
  assert.doesNotMatch(stderr, /PodSecurity/, stderr);
  // ...as this control proves: the same dry-run of a template that is not locked down does warn.
  const statefulSet = rest.find((o) => o.kind === 'StatefulSet');
  assert.ok(statefulSet);
  const spec = statefulSet.spec as { template: { spec: Record<string, unknown> } };
  const loose = { ...spec, template: { ...spec.template, spec: { ...spec.template.spec, hostNetwork: true } } };
  const control = await kubectl(c, ['apply', '--dry-run=server', '-f', '-'], { ...statefulSet, spec: loose });
  assert.match(control.stderr, /would violate PodSecurity "restricted:latest": host namespaces/);
});

test('each pod template, submitted as a Pod, is admitted by PSA restricted enforcement', async () => {
  const c = cluster();
  const workloads = desired.filter((o) => ['StatefulSet', 'Deployment', 'Job'].includes(o.kind));
  assert.ok(workloads.length >= 5, workloads.map((w) => w.metadata.name).join(', '));
  // Pod admission looks the ServiceAccount up, so those (and only those) are created for real.
  const accounts = desired.filter((o) => o.kind === 'ServiceAccount');
  await kubectl(c, ['apply', '-f', '-'], { apiVersion: 'v1', kind: 'List', items: accounts });
  for (const w of workloads) {
    const template = (w.spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } })
      .template;
    // Volume claim templates become PVC volumes of the StatefulSet's pods: stand in for them the same way.
    const claims = (w.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? [];
    const volumes = [
      ...((template.spec.volumes as unknown[]) ?? []),
      ...claims.map((claim) => ({
        name: claim.metadata.name,
        persistentVolumeClaim: { claimName: `${claim.metadata.name}-${w.metadata.name}-0` },
      })),
    ];
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...template.metadata, name: `${w.metadata.name}-dry`, namespace: ctx.namespace },
      spec: { ...template.spec, volumes, ...(w.kind === 'Job' ? {} : { restartPolicy: 'Always' }) },
    };
    const { stdout, stderr } = await kubectl(c, ['apply', '--dry-run=server', '-f', '-'], pod);
    assert.match(stdout, /created \(server dry run\)/, `${w.kind}/${w.metadata.name}`);
    assert.doesNotMatch(stderr, /PodSecurity/, stderr);
  }
});

test('plain-mode Secrets of the plan pass a server dry-run (SealedSecrets need the controller CRD: not here)', async () => {
  const c = cluster();
  const material = generateSecretMaterial(ctx.participants.map((p) => p.handle));
  const secrets = secretPlan(ctx).map((entry) =>
    renderSecret(
      entry,
      secretValues(entry, material, {
        postgresPassword: generateToken(),
        liveKit: liveKitCredentials(() => generateToken()),
      }),
      'plain',
      ctx.namespace,
      ctx.channel.name,
    ),
  );
  const { stdout } = await kubectl(c, ['apply', '--dry-run=server', '-o', 'name', '-f', '-'], {
    apiVersion: 'v1',
    kind: 'List',
    items: secrets,
  });
  assert.deepEqual(stdout.trim().split('\n').sort(), secrets.map((s) => `secret/${s.metadata.name}`).sort());
});
