import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

const cluster = useCluster();

interface PodList {
  items: { status: { phase: string; podIP?: string; conditions?: { type: string; status: string }[] } }[];
}

test('a Deployment in a fresh namespace gets a Ready pod on a kwok node, and deleting the namespace removes it', async () => {
  const k = kubectl(cluster());
  const ns = `smoke-${randomBytes(3).toString('hex')}`;
  await k.apply({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  });
  await k.apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'web',
              image: 'example.invalid/web:1',
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  });

  const pods = await eventually('pod Ready', async () => {
    const list = await k.getJson<PodList>(['pods', '-n', ns]);
    const ready = list?.items.filter((p) =>
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready?.length === 1 ? ready : undefined;
  });
  assert.equal(pods[0]?.status.phase, 'Running');
  assert.match(pods[0]?.status.podIP ?? '', /^10\.244\./);

  const deployment = await k.getJson<{ status: { availableReplicas?: number } }>(['deployment', 'web', '-n', ns]);
  assert.equal(deployment?.status.availableReplicas, 1);

  await k.exec(['delete', 'namespace', ns, '--wait=false']);
  await eventually('namespace gone', async () => (await k.getJson(['namespace', ns])) === undefined, 60_000);
  const leftovers = await k.getJson<PodList>(['pods', '-n', ns]);
  assert.equal(leftovers?.items.length ?? 0, 0);
});

test('PSA restricted enforcement rejects a privileged pod', async () => {
  const k = kubectl(cluster());
  const ns = `psa-${randomBytes(3).toString('hex')}`;
  await k.apply({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  });
  try {
    await assert.rejects(
      k.apply({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'bad', namespace: ns },
        spec: { containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] },
      }),
      /violates PodSecurity "restricted/,
    );
  } finally {
    await k.exec(['delete', 'namespace', ns, '--wait=false']);
  }
});
