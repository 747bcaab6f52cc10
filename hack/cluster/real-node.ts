import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapStaleHolder } from '../kind/reap-stale.ts';
import type { AdminClient } from './admin-client.ts';
import type { Component } from './binaries.ts';
import { writeCniConfig } from './cni.ts';
import {
  type Containerd,
  importImage,
  listContainers,
  removeAllContainers,
  removeRuntimeLeftovers,
  startContainerd,
  taskIdsOnDisk,
} from './containerd.ts';
import { coreDnsImage, deployClusterDns } from './coredns.ts';
import { run } from './exec.ts';
import { flushKubeChains, killProcessesUsing, unmountAllUnder } from './host-cleanup.ts';
import {
  addForwardGuard,
  bridgeNetfilterOn,
  createNodeNetwork,
  deleteNodeNetwork,
  enableForwarding,
  leftoverNodeBridges,
  type NodeNetwork,
  removeForwardGuard,
  removeLeftoverBridge,
  restoreForwarding,
} from './host-net.ts';
import { destroyKubeRouterIpsets, grantKubeRouter, KUBE_ROUTER_USER, startKubeRouter } from './kube-router.ts';
import { writeKubeletConfig, writeKubeProxyConfig } from './node-agents.ts';
import { issueClientCert, writeCertKubeconfig } from './node-pki.ts';
import type { SidecarConfig } from './node-sidecar.ts';
import { freePort, type ManagedProcess, startProcess, stopProcess, waitFor } from './processes.ts';
import { acquireRealNodeLock, type LockHolder } from './real-node-lock.ts';

export const INSTALL_SCRIPT = fileURLToPath(new URL('../peers/real-node.sh', import.meta.url));
const SIDECAR = fileURLToPath(new URL('./node-sidecar.ts', import.meta.url));
/** The ClusterIP of the kube-dns Service (inside SERVICE_CIDR's low, statically assigned band). */
export const CLUSTER_DNS_IP = '10.96.0.10';

export interface SandboxImage {
  ref: string;
  archive: string;
}

export interface PrepareRealNodeOptions {
  /** The cluster's run dir; the node keeps everything under `<dir>/node`. */
  dir: string;
  serviceCidr: string;
  /** kube-proxy, for `--cleanup` on stop. */
  kubeProxy: string;
  /** How long to wait for another real-node cluster on this machine to stop (default 10 min). */
  lockWaitMs?: number;
  log: (m: string) => void;
}

export interface RealNodeOptions {
  logDir: string;
  /** The apiserver on loopback (https://127.0.0.1:<port>); pods reach it through the bridge (see start()). */
  server: string;
  admin: AdminClient;
  /** The admin token, for the node's helper process (written to a 0600 file, never to a command line). */
  adminToken: string;
  ca: { cert: string; key: string };
  binaries: Record<Component, string>;
  /** docker-archive/OCI tars imported into containerd before the kubelet starts. */
  images?: string[];
  /** The pod sandbox image; by default the project's pause image (hack/images, built once and cached). */
  sandboxImage?: SandboxImage;
  /** Enforce NetworkPolicies with kube-router (a test peer, see kube-router.ts). */
  enforceNetworkPolicies: boolean;
  log: (m: string) => void;
  mark: (what: string) => void;
}

/**
 * The host side of a real node, set up before the control plane so the apiserver can advertise the node's bridge
 * address (in-cluster clients reach `kubernetes.default` there): the one-real-node lock, the bridge and /24, forwarding
 * and the egress guard. `start()` then joins the node; `stop()` undoes everything, whichever phase was reached.
 */
export interface RealNodeHost {
  net: NodeNetwork;
  start(o: RealNodeOptions): Promise<RealNode>;
  /** `keepLock`: the caller checks the host is clean before another run may take the node, then calls releaseLock. */
  stop(o?: { keepLock?: boolean }): Promise<void>;
  releaseLock(): Promise<void>;
}

export interface RealNodeInfo {
  name: string;
  /** The bridge address: node IP, pods' gateway, CoreDNS. */
  nodeIp: string;
  bridge: string;
  /** Pod subnet (a /24 of 10.88.0.0/16). */
  podSubnet: string;
  clusterDnsIp: string;
  /** containerd's socket, for `ctr --address … -n k8s.io`. */
  containerdAddress: string;
  sandboxImage: string;
  /** Whether kube-router enforces NetworkPolicies on this node. */
  networkPolicies: boolean;
}

export interface RealNode extends RealNodeInfo {
  importImage(archive: string): Promise<void>;
  stop(): Promise<void>;
}

/** Fails with a clear reason when this machine cannot run a real node (the test skips on exactly this). */
export function realNodeUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `a real node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a real node needs root (bridges, iptables, mounts, containerd)';
  return undefined;
}

function installPrerequisites(): void {
  const r = spawnSync('bash', [INSTALL_SCRIPT], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${INSTALL_SCRIPT} failed (${r.status ?? r.signal})`);
}

/**
 * A real node for the local control plane, in two steps. `prepareRealNode` (before the control plane) takes the
 * one-real-node lock (kube-proxy's chains are global), installs the Debian parts when missing and makes a run-private
 * bridge and /24 (no default route for pods, an egress guard). `start()` (once the apiserver is up) joins the node:
 * containerd + runc with all state under `<dir>/node`, the kubelet (client cert `system:node:<name>`), kube-proxy in
 * iptables mode so ClusterIPs work from pods and from the host, kube-router enforcing NetworkPolicies (unless turned
 * off), CoreDNS as a `k8s-app=kube-dns` pod for cluster names only, and local volumes for PVCs; it resolves once the
 * Node is Ready and DNS answers. `stop()` undoes all of it.
 */
export async function prepareRealNode(o: PrepareRealNodeOptions): Promise<RealNodeHost> {
  const unsupported = realNodeUnsupportedReason();
  if (unsupported) throw new Error(unsupported);
  const nodeDir = join(o.dir, 'node');
  await mkdir(nodeDir, { recursive: true });
  const me: LockHolder = { pid: process.pid, dir: o.dir, startedAt: new Date().toISOString() };
  const lock = await acquireRealNodeLock(me, {
    waitMs: o.lockWaitMs ?? 10 * 60_000,
    reapStale: (holder) => reapStaleHolder(holder, o.log, 'real-node'),
    log: o.log,
  });

  const procs: ManagedProcess[] = [];
  let containerd: Containerd | undefined;
  let net: NodeNetwork | undefined;
  let ipForwardBefore: string | undefined;
  let stopped = false;
  let containerIds: string[] = [];
  const stop = async (so?: { keepLock?: boolean }) => {
    if (stopped) return;
    stopped = true;
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    // The kubelet first, so nothing restarts the containers removed next.
    for (const p of [...procs].reverse()) await step(`stop ${p.name}`, () => stopProcess(p));
    if (containerd) {
      const c = containerd;
      containerIds = [
        ...new Set([...(await listContainers(c).catch(() => [] as string[])), ...(await taskIdsOnDisk(c.dir))]),
      ];
      await step('remove containers', () => removeAllContainers(c));
      await step('stop containerd', () => stopProcess(c.process));
    }
    await step('kill leftover processes', () => killProcessesUsing(nodeDir, containerIds));
    await step('unmount', () => unmountAllUnder(nodeDir));
    await step('runtime leftovers', () => removeRuntimeLeftovers(containerIds));
    if (net) {
      const n = net;
      await step('remove forward guard', () => removeForwardGuard(n));
      await step('delete bridge', () => deleteNodeNetwork(n));
    }
    await step('kube-proxy --cleanup', () => cleanupIptables(o.kubeProxy));
    await step('kube-router ipsets', destroyKubeRouterIpsets);
    const forward = ipForwardBefore;
    if (forward) await step('restore ip_forward', () => restoreForwarding(forward));
    if (!so?.keepLock) await step('release lock', () => lock.release());
    if (errors.length > 0) throw new Error(`real node clean-up was incomplete: ${errors.join('; ')}`);
  };

  try {
    installPrerequisites();
    for (const bridge of await leftoverNodeBridges()) {
      o.log(`removing ${bridge}, the bridge of an earlier real-node run that no lock record names`);
      await removeLeftoverBridge(bridge);
    }
    net = await createNodeNetwork(o.serviceCidr);
    await lock.update({ bridge: net.bridge });
    ipForwardBefore = await enableForwarding();
    await lock.update({ ipForwardBefore });
    await addForwardGuard(net);
  } catch (err) {
    await stop().catch((e: Error) => o.log(e.message));
    throw err;
  }
  const hostNet = net;
  const serviceCidr = o.serviceCidr;
  return { net: hostNet, stop, start, releaseLock: () => lock.release() };

  async function start(n: RealNodeOptions): Promise<RealNode> {
    const net = hostNet;
    try {
      const name = `warroom-real-${randomBytes(3).toString('hex')}`;
      n.log(`real node ${name}: bridge ${net.bridge}, pods in ${net.subnet}, node IP ${net.nodeIp}`);
      // The apiserver listens on loopback only and advertises the node IP: the helper's forwarder, on the run's own
      // bridge, carries in-cluster clients' connections (kubernetes.default → node IP:port) to it. The same helper
      // provisions local volumes. See node-sidecar.ts for why it is a process of its own.
      const apiPort = Number(new URL(n.server).port);
      const sidecarConfig = join(nodeDir, 'node-sidecar.json');
      await writeFile(
        sidecarConfig,
        JSON.stringify({
          listenHost: net.nodeIp,
          apiPort,
          server: n.server,
          caFile: n.ca.cert,
          token: n.adminToken,
          nodeName: name,
          volumesDir: join(nodeDir, 'volumes'),
        } satisfies SidecarConfig),
        { mode: 0o600 },
      );
      const sidecar = startProcess('node-sidecar', process.execPath, [SIDECAR, sidecarConfig], n.logDir);
      procs.push(sidecar);
      await waitFor('apiserver forwarder on the node IP', () => tcpConnects(net.nodeIp, apiPort), {
        timeoutMs: 30_000,
        process: sidecar,
      });

      const sandbox = n.sandboxImage ?? (await projectPauseImage());
      const dnsImage = await coreDnsImage(n.binaries.coredns);
      const cniConfDir = join(nodeDir, 'cni', 'net.d');
      await writeCniConfig(cniConfDir, join(nodeDir, 'cni', 'ipam'), net, serviceCidr);
      containerd = await startContainerd(join(nodeDir, 'containerd'), cniConfDir, sandbox.ref, n.logDir);
      const c = containerd;
      // In parallel: a few hundred MB each (Synapse, the operator), about 5 s apiece one after the other.
      await Promise.all(
        [sandbox.archive, dnsImage.archive, ...(n.images ?? [])].map((archive) => importImage(c, archive)),
      );
      n.mark('containerd ready, images imported');

      const pkiDir = join(nodeDir, 'pki');
      await mkdir(pkiDir, { recursive: true });
      const kubeconfigFor = async (file: string, user: string, groups: string[] = []) => {
        const cert = await issueClientCert(pkiDir, n.ca, file, user, groups);
        const path = join(pkiDir, `${file}.kubeconfig`);
        await writeCertKubeconfig(path, n.server, n.ca.cert, cert, user);
        return path;
      };
      const [kubeletKubeconfig, proxyKubeconfig, routerKubeconfig] = await Promise.all([
        kubeconfigFor('kubelet', `system:node:${name}`, ['system:nodes']),
        kubeconfigFor('kube-proxy', 'system:kube-proxy'),
        kubeconfigFor('kube-router', KUBE_ROUTER_USER),
      ]);

      const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] = await Promise.all([
        freePort(),
        freePort(),
        freePort(),
        freePort(),
      ]);
      const kubeletDir = join(nodeDir, 'kubelet');
      await mkdir(kubeletDir, { recursive: true });
      const kubeletConfig = await writeKubeletConfig({
        dir: kubeletDir,
        net,
        port: kubeletPort,
        healthzPort: kubeletHealthz,
        caFile: n.ca.cert,
        runtimeEndpoint: `unix://${c.address}`,
        clusterDns: CLUSTER_DNS_IP,
      });
      const kubelet = startProcess(
        'kubelet',
        n.binaries.kubelet,
        [
          `--config=${kubeletConfig}`,
          `--kubeconfig=${kubeletKubeconfig}`,
          `--root-dir=${join(kubeletDir, 'root')}`,
          `--cert-dir=${join(kubeletDir, 'pki')}`,
          `--node-ip=${net.nodeIp}`,
          `--hostname-override=${name}`,
          '--v=1',
        ],
        n.logDir,
      );
      procs.push(kubelet);
      const proxyConfig = await writeKubeProxyConfig({
        dir: nodeDir,
        net,
        nodeName: name,
        kubeconfig: proxyKubeconfig,
        healthzPort: proxyHealthz,
        metricsPort: proxyMetrics,
        masqueradeAll: !(await bridgeNetfilterOn()),
      });
      const kubeProxy = startProcess(
        'kube-proxy',
        n.binaries['kube-proxy'],
        [`--config=${proxyConfig}`, '--v=1'],
        n.logDir,
      );
      procs.push(kubeProxy);
      await waitFor(
        `node ${name} Ready`,
        async () => {
          const node = await n.admin.getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(
            `/api/v1/nodes/${name}`,
          );
          return !!node?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
        },
        { timeoutMs: 120_000, intervalMs: 200, process: kubelet },
      );
      n.mark('real node Ready');
      await waitFor('kube-proxy healthy', async () => (await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)).ok, {
        timeoutMs: 60_000,
        intervalMs: 200,
        process: kubeProxy,
      });
      n.mark('kube-proxy synced');
      if (n.enforceNetworkPolicies) {
        // Before any workload pod: a pod never runs a moment without its namespace's policies enforced.
        await grantKubeRouter(n.admin);
        procs.push(
          await startKubeRouter({
            binary: n.binaries['kube-router'],
            kubeconfig: routerKubeconfig,
            nodeName: name,
            serviceCidr,
            logDir: n.logDir,
          }),
        );
        n.mark('kube-router enforcing NetworkPolicies');
      }
      await deployClusterDns(n.admin, { clusterIp: CLUSTER_DNS_IP, image: dnsImage.ref });
      n.mark('CoreDNS pod ready');
      return {
        name,
        nodeIp: net.nodeIp,
        bridge: net.bridge,
        podSubnet: net.subnet,
        clusterDnsIp: CLUSTER_DNS_IP,
        containerdAddress: c.address,
        sandboxImage: sandbox.ref,
        networkPolicies: n.enforceNetworkPolicies,
        importImage: (archive: string) => importImage(c, archive),
        stop,
      };
    } catch (err) {
      await stop().catch((e: Error) => n.log(e.message));
      throw err;
    }
  }
}

/**
 * The project's own pause image (a static C program that reaps children and exits on SIGTERM, built by hack/images
 * and cached), under the kubelet's default sandbox name. Loaded lazily: kwok clusters never need hack/images.
 */
async function projectPauseImage(): Promise<SandboxImage> {
  const images = await import('../images/build.ts');
  const built = await images.ensureImages(['pause']);
  const pause = built.pause;
  if (!pause.extraTags.includes(images.PAUSE_IMAGE_REF)) {
    throw new Error(`the pause image ${pause.ref} does not carry ${images.PAUSE_IMAGE_REF}`);
  }
  return { ref: images.PAUSE_IMAGE_REF, archive: pause.archive };
}

function tcpConnects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Removes every KUBE-* iptables chain: kube-proxy's own clean-up, then a sweep for what it leaves (the kubelet's, and
 * kube-router's KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*: a stopped kube-router keeps enforcing until they go).
 */
async function cleanupIptables(kubeProxy: string): Promise<void> {
  await run(kubeProxy, ['--cleanup', '--v=0'], { allowFail: true, timeoutMs: 60_000 });
  await flushKubeChains();
}
