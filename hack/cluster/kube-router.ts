import type { AdminClient } from './admin-client.ts';
import { run } from './exec.ts';
import { type ManagedProcess, startProcess, waitFor } from './processes.ts';

/**
 * kube-router v2.1.0 with ONLY its network-policy controller, enforcing NetworkPolicies on the real node.
 *
 * A TEST PEER: security flaws are reported against this version, so it never appears in the chart, the images or a
 * production doc; on kind and real clusters the cluster's own CNI enforces the policies. It is the one engine that works
 * unmodified on this machine kind (no nft `queue` support in the kernel, see ../shared/notes/isolation.md). It runs as a
 * host process, as its hostNetwork DaemonSet pod would, after kube-proxy: kube-proxy keeps the Services (its DNAT
 * happens first, so ClusterIP traffic is filtered by the pod it really reaches).
 */
export interface KubeRouterOptions {
  binary: string;
  kubeconfig: string;
  nodeName: string;
  serviceCidr: string;
  logDir: string;
}

/** The chain kube-router jumps to from the filter table's FORWARD. */
const FORWARD_CHAIN = 'KUBE-ROUTER-FORWARD';

export async function startKubeRouter(o: KubeRouterOptions): Promise<ManagedProcess> {
  const p = startProcess(
    'kube-router',
    o.binary,
    [
      `--kubeconfig=${o.kubeconfig}`,
      `--hostname-override=${o.nodeName}`,
      '--run-firewall=true',
      '--run-router=false',
      '--run-service-proxy=false',
      `--service-cluster-ip-range=${o.serviceCidr}`,
      // No listeners of its own: nothing on the host but what the harness opens.
      '--health-port=0',
      '--metrics-port=0',
      '--v=1',
    ],
    o.logDir,
  );
  await waitFor('kube-router enforcing (its FORWARD jump and pod firewall written)', enforcing, {
    timeoutMs: 60_000,
    intervalMs: 200,
    process: p,
  });
  return p;
}

/** Its jump from FORWARD and, written by the end of each full sync, the ACCEPT of policy-compliant (marked) traffic. */
async function enforcing(): Promise<boolean> {
  const lines = (await run('iptables-save', ['-t', 'filter'], { allowFail: true })).stdout.split('\n');
  const jumped = lines.some((l) => l.startsWith('-A FORWARD ') && l.includes(`-j ${FORWARD_CHAIN}`));
  const synced = lines.some((l) => l.startsWith(`-A ${FORWARD_CHAIN} `) && /0x20000\/0x20000 -j ACCEPT/.test(l));
  return jumped && synced;
}

/**
 * The ipsets kube-router leaves once it is stopped (its policy peers, `KUBE-SRC-*`/`KUBE-DST-*`). Run after the
 * KUBE-* chains are flushed: a set still referenced by a rule cannot be destroyed. Never `kube-router --cleanup-config`,
 * which also flushes every IPVS service on the host.
 */
export async function kubeRouterIpsets(): Promise<string[]> {
  const r = await run('ipset', ['list', '-n'], { allowFail: true });
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('KUBE-SRC-') || s.startsWith('KUBE-DST-'));
}

export async function destroyKubeRouterIpsets(): Promise<void> {
  const sets = await kubeRouterIpsets();
  for (const s of sets) await run('ipset', ['destroy', s], { allowFail: true });
  const left = await kubeRouterIpsets();
  if (left.length > 0) throw new Error(`kube-router ipsets still in use, not destroyed: ${left.join(', ')}`);
}

/** The user kube-router authenticates as (client cert), and read access to what its policy controller watches. */
export const KUBE_ROUTER_USER = 'warroom:kube-router';

export async function grantKubeRouter(admin: AdminClient): Promise<void> {
  const read = ['get', 'list', 'watch'];
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: KUBE_ROUTER_USER },
    rules: [
      { apiGroups: [''], resources: ['namespaces', 'pods', 'services', 'nodes', 'endpoints'], verbs: read },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: read },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
    ],
  });
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: KUBE_ROUTER_USER },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: KUBE_ROUTER_USER },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: KUBE_ROUTER_USER }],
  });
}
