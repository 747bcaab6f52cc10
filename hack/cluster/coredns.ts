import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdminClient } from './admin-client.ts';
import { type ManagedProcess, startProcess, waitFor } from './processes.ts';

/** The user CoreDNS authenticates as (client cert); it gets read access to what the kubernetes plugin watches. */
export const COREDNS_USER = 'warroom:coredns';

/**
 * CoreDNS as a host process on the bridge address, port 53, answering cluster names only: the kubernetes plugin and
 * NO forward plugin, so a pod can resolve `svc.ns.svc.cluster.local` and nothing outside the cluster.
 */
export async function startCoreDns(opts: {
  binary: string;
  dir: string;
  logDir: string;
  listenIp: string;
  kubeconfig: string;
  readyPort: number;
}): Promise<ManagedProcess> {
  const corefile = join(opts.dir, 'Corefile');
  await writeFile(
    corefile,
    [
      '.:53 {',
      `  bind ${opts.listenIp}`,
      '  errors',
      `  ready 127.0.0.1:${opts.readyPort}`,
      '  kubernetes cluster.local in-addr.arpa ip6.arpa {',
      `    kubeconfig ${opts.kubeconfig} warroom-local`,
      '    fallthrough in-addr.arpa ip6.arpa',
      '    ttl 5',
      '  }',
      '  cache 5',
      '  loadbalance',
      '}',
      '',
    ].join('\n'),
  );
  const p = startProcess('coredns', opts.binary, ['-conf', corefile], opts.logDir);
  await waitFor(
    'CoreDNS ready (kubernetes plugin synced)',
    async () => (await fetch(`http://127.0.0.1:${opts.readyPort}/ready`)).ok,
    { timeoutMs: 30_000, intervalMs: 100, process: p },
  );
  return p;
}

/** RBAC for CoreDNS, the kube-dns Service (selector-less, on `clusterIp`) and an EndpointSlice to the host process. */
export async function publishClusterDns(admin: AdminClient, clusterIp: string, listenIp: string): Promise<void> {
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: COREDNS_USER },
    rules: [
      { apiGroups: [''], resources: ['services', 'namespaces', 'endpoints', 'pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  });
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: COREDNS_USER },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: COREDNS_USER },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: COREDNS_USER }],
  });
  await admin.create('/api/v1/namespaces/kube-system/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    spec: {
      clusterIP: clusterIp,
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
      ],
    },
  });
  await admin.create('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices', {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kube-dns-host',
      namespace: 'kube-system',
      labels: {
        'kubernetes.io/service-name': 'kube-dns',
        'endpointslice.kubernetes.io/managed-by': 'warroom-local-cluster',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [listenIp], conditions: { ready: true } }],
    ports: [
      { name: 'dns', protocol: 'UDP', port: 53 },
      { name: 'dns-tcp', protocol: 'TCP', port: 53 },
    ],
  });
}
