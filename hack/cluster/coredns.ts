import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AdminClient } from './admin-client.ts';
import { buildBusyboxImage } from './busybox-image.ts';
import { cacheDir } from './cache-dir.ts';
import { waitFor } from './processes.ts';

const NAMESPACE = 'kube-system';
const NAME = 'coredns';
/** kind's and kubeadm's labels: NetworkPolicies (the war room's allow-dns among them) select cluster DNS by them. */
export const DNS_POD_LABELS = { 'k8s-app': 'kube-dns' };
const UID = 65532;

/**
 * The CoreDNS image: the pinned, statically linked binary (build-binaries.sh) on busybox, cached per binary build
 * (its directory names version and recipe). Only the harness uses it.
 */
export async function coreDnsImage(binary: string): Promise<{ ref: string; archive: string }> {
  const build = basename(dirname(binary));
  const ref = `localhost/warroom/coredns:${build}`;
  const dir = cacheDir('coredns-image');
  await mkdir(dir, { recursive: true });
  const archive = join(dir, `${build}.tar`);
  if (!existsSync(archive)) {
    const work = join(dir, `tmp-${process.pid}`);
    await mkdir(work, { recursive: true });
    const built = await buildBusyboxImage(work, ref, { user: `${UID}:${UID}`, extraFiles: { '/coredns': binary } });
    await rename(built, archive);
  }
  return { ref, archive };
}

/**
 * Cluster DNS as kind and kubeadm run it: a CoreDNS pod in kube-system labelled `k8s-app=kube-dns`, behind the
 * `kube-dns` Service at `clusterIp`, reading the API through its ServiceAccount. It answers cluster names only: the
 * kubernetes plugin and NO forward plugin, so a pod resolves `svc.ns.svc.cluster.local` and nothing outside the
 * cluster (and no query ever leaves the machine). Port 53 in the pod (a NetworkPolicy's DNS rule names the pod's port)
 * without root or a capability: the namespaced sysctl `ip_unprivileged_port_start`. Resolves once the pod is Ready.
 */
export async function deployClusterDns(admin: AdminClient, o: { clusterIp: string; image: string }): Promise<void> {
  const meta = { name: NAME, namespace: NAMESPACE, labels: DNS_POD_LABELS };
  await admin.create(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta,
  });
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: `warroom:${NAME}` },
    rules: [
      { apiGroups: [''], resources: ['services', 'namespaces', 'endpoints', 'pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  });
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `warroom:${NAME}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `warroom:${NAME}` },
    subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }],
  });
  await admin.create(`/api/v1/namespaces/${NAMESPACE}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta,
    data: {
      Corefile: [
        '.:53 {',
        '  errors',
        '  ready :8181',
        '  kubernetes cluster.local in-addr.arpa ip6.arpa {',
        '    fallthrough in-addr.arpa ip6.arpa',
        '    ttl 5',
        '  }',
        '  cache 5',
        '  loadbalance',
        '}',
        '',
      ].join('\n'),
    },
  });
  await admin.create(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: {
      replicas: 1,
      selector: { matchLabels: DNS_POD_LABELS },
      template: {
        metadata: { labels: DNS_POD_LABELS },
        spec: {
          serviceAccountName: NAME,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: UID,
            runAsGroup: UID,
            seccompProfile: { type: 'RuntimeDefault' },
            sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '53' }],
          },
          containers: [
            {
              name: NAME,
              image: o.image,
              imagePullPolicy: 'Never',
              command: ['/coredns', '-conf', '/etc/coredns/Corefile'],
              ports: [
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
                { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: NAME } }],
        },
      },
    },
  });
  await admin.create(`/api/v1/namespaces/${NAMESPACE}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: NAMESPACE, labels: DNS_POD_LABELS },
    spec: {
      clusterIP: o.clusterIp,
      selector: DNS_POD_LABELS,
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
      ],
    },
  });
  await waitFor(
    'the CoreDNS pod Ready (kubernetes plugin synced)',
    async () => {
      const pods = await admin.getJson<{
        items: { status?: { conditions?: { type: string; status: string }[] } }[];
      }>(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=k8s-app%3Dkube-dns`);
      return (pods?.items ?? []).some((p) =>
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
}
