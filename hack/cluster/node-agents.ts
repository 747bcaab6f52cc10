import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeNetwork } from './host-net.ts';

/**
 * The kubelet's configuration for a test node on this machine kind (see ../shared/notes/real-node.md): cgroupfs on
 * cgroup v1 with no QoS hierarchy and no allocatable enforcement, no swap check, no eviction and no image GC (the
 * images are imported, never pulled, so a collected image could not come back), client certs checked against the
 * cluster CA and every authenticated request allowed (a throwaway node). Every directory it writes lies in `dir`.
 */
export async function writeKubeletConfig(o: {
  dir: string;
  net: NodeNetwork;
  port: number;
  healthzPort: number;
  caFile: string;
  runtimeEndpoint: string;
  clusterDns: string;
}): Promise<string> {
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: o.net.nodeIp,
    port: o.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: o.healthzPort,
    containerRuntimeEndpoint: o.runtimeEndpoint,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    failCgroupV1: false,
    evictionHard: {},
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: o.caFile },
    },
    authorization: { mode: 'AlwaysAllow' },
    clusterDNS: [o.clusterDns],
    clusterDomain: 'cluster.local',
    // No host resolv.conf: pods resolve cluster names through CoreDNS and nothing else.
    resolvConf: '',
    podLogsDir: join(o.dir, 'pod-logs'),
    volumePluginDir: join(o.dir, 'volume-plugins'),
    rotateCertificates: false,
    serverTLSBootstrap: false,
    // Status and pod sync a little faster than the defaults, so tests see changes sooner.
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    maxPods: 110,
  };
  const file = join(o.dir, 'kubelet-config.json');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/**
 * kube-proxy in iptables mode. Sysctls it would change host-wide are left alone (conntrack sizes 0 = keep;
 * `localhostNodePorts: false` so it does not set route_localnet); NodePorts only on the node IP. When bridged
 * replies bypass iptables (no br_netfilter), every Service connection is masqueraded so replies come back through
 * the host's conntrack.
 */
export async function writeKubeProxyConfig(o: {
  dir: string;
  net: NodeNetwork;
  nodeName: string;
  kubeconfig: string;
  healthzPort: number;
  metricsPort: number;
  masqueradeAll: boolean;
}): Promise<string> {
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: o.kubeconfig },
    hostnameOverride: o.nodeName,
    bindAddress: o.net.nodeIp,
    healthzBindAddress: `127.0.0.1:${o.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${o.metricsPort}`,
    mode: 'iptables',
    clusterCIDR: o.net.subnet,
    detectLocalMode: 'ClusterCIDR',
    nodePortAddresses: [`${o.net.nodeIp}/32`],
    iptables: { masqueradeAll: o.masqueradeAll, syncPeriod: '30s', minSyncPeriod: '0s', localhostNodePorts: false },
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
  const file = join(o.dir, 'kube-proxy-config.json');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}
