import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from './admin-client.ts';
import { CONTROL_PLANE, type Component, ensureBinaries } from './binaries.ts';
import { LOCAL_VOLUME_PROVISIONER } from './local-volumes.ts';
import { createPki } from './pki.ts';
import { freePort, type ManagedProcess, startProcess, stopProcess, waitFor } from './processes.ts';
import {
  prepareRealNode,
  type RealNode,
  type RealNodeHost,
  type RealNodeInfo,
  type SandboxImage,
} from './real-node.ts';

export interface LocalCluster {
  /** Temp dir holding certs, etcd data, kubeconfig and one log file per component. */
  dir: string;
  /** Path of an admin kubeconfig (system:masters). */
  kubeconfig: string;
  server: string;
  caPem: string;
  adminToken: string;
  binaries: Record<Component, string>;
  /** Seconds from start for each milestone, for the start-up benchmark. */
  timings: Record<string, number>;
  /** `kwok` (fake nodes, the default) or `real` (kubelet + containerd: pods really run). */
  node: NodeKind;
  /** The real node's name, addresses and containerd socket (node kind `real` only). */
  realNode?: RealNodeInfo;
  /** The apiserver's audit log (JSON lines), when started with `audit`. */
  auditLog?: string;
  /** Imports a docker-archive/OCI tar into the real node's containerd (throws for kwok: there is no runtime). */
  importImage(archivePath: string): Promise<void>;
  /** Stops and starts kube-apiserver on the same port, for tests of watch recovery; resolves when it is ready again. */
  restartApiServer(): Promise<void>;
  /**
   * `keepRealNodeLock`: the machine's one-real-node lock stays held after the node is gone, so a test can check the
   * host is clean before another run on the machine takes the node; it then calls releaseRealNodeLock.
   */
  stop(opts?: { keepRealNodeLock?: boolean }): Promise<void>;
  releaseRealNodeLock(): Promise<void>;
}

export interface StartClusterOptions {
  /** Use this directory instead of a fresh temp dir (the CLI keeps a stable one); it is emptied first. */
  dir?: string;
  /** How many kwok nodes (default 1). */
  nodes?: number;
  log?: (msg: string) => void;
  /** Keep the directory after stop (logs for debugging). */
  keepDir?: boolean;
  /** `kwok` (default): fake nodes, fast. `real`: a kubelet with containerd, see real-node.ts (root only). */
  node?: NodeKind;
  /** Image archives (docker-archive or OCI tars) to import into the real node's containerd before its kubelet starts. */
  images?: string[];
  /** The real node's pod sandbox (pause) image; default: the project's pause image from hack/images. */
  sandboxImage?: SandboxImage;
  /**
   * Write an apiserver audit log (one JSON line per finished request, level Metadata) of these users' requests only,
   * e.g. `system:serviceaccount:warroom-system:warroom-operator`: what a platform team reads to see what a client costs.
   */
  audit?: { users: string[] };
  /** How long a real-node start waits for another real-node cluster on this machine to stop (default 10 min). */
  realNodeLockWaitMs?: number;
  /**
   * Real node only: enforce NetworkPolicies (kube-router, a test peer; default true). false gives a node where every
   * policy is ignored, as on a cluster without a policy engine (for tests that show what enforcement changes).
   */
  networkPolicies?: boolean;
}

export type NodeKind = 'kwok' | 'real';

export const SERVICE_CIDR = '10.96.0.0/16';
export const POD_CIDR = '10.244.0.0/16';
export const KWOK_NODE_PREFIX = 'kwok-node-';
/** The timing mark of a real node's host side (lock taken, bridge up). */
export const REAL_NODE_HOST_READY = 'real node: lock taken, bridge up';

/**
 * Starts a real, throwaway control plane on loopback: etcd, kube-apiserver (RBAC, PSA, service-account tokens),
 * kube-controller-manager (namespace deletion, GC, workloads), kube-scheduler and kwok with fake nodes, so pods become
 * Running/Ready. Everything binds to 127.0.0.1 on random free ports and lives under one temp dir.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<LocalCluster> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[cluster] ${m}\n`));
  const nodeKind = opts.node ?? 'kwok';
  const binaries = await ensureBinaries(
    nodeKind === 'real' ? [...CONTROL_PLANE, 'kubelet', 'kube-proxy', 'coredns', 'kube-router'] : CONTROL_PLANE,
  );
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const mark = (what: string) => {
    timings[what] = Number(((performance.now() - t0) / 1000).toFixed(2));
    log(`${what} at ${timings[what]} s`);
  };

  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'warroom-cluster-')));
  if (opts.dir) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
  }
  const logDir = join(dir, 'logs');
  await mkdir(logDir, { recursive: true });
  const procs: ManagedProcess[] = [];
  let stopped = false;
  let keepDir = opts.keepDir ?? false;
  let realHost: RealNodeHost | undefined;
  let realNode: RealNode | undefined;
  const stop = async (so?: { keepRealNodeLock?: boolean }) => {
    if (stopped) return;
    stopped = true;
    // The node first: its clean-up (containers, mounts, bridge, iptables) needs nothing from the control plane.
    const nodeStopped = realHost?.stop({ keepLock: so?.keepRealNodeLock }).catch((err: Error) => err);
    const nodeError = await nodeStopped;
    for (const p of procs.reverse()) await stopProcess(p);
    if (!keepDir) await rm(dir, { recursive: true, force: true });
    if (nodeError) throw nodeError;
  };

  try {
    // A real node's network comes first: the apiserver advertises the node's bridge address to in-cluster clients.
    if (nodeKind === 'real') {
      realHost = await prepareRealNode({
        dir,
        serviceCidr: SERVICE_CIDR,
        kubeProxy: binaries['kube-proxy'],
        lockWaitMs: opts.realNodeLockWaitMs,
        log,
      });
      // Includes any wait for another real-node run on the machine (one at a time): benches subtract it.
      mark(REAL_NODE_HOST_READY);
    }
    const pki = await createPki(dir);
    const caPem = await readFile(pki.caCert, 'utf8');
    const adminToken = randomBytes(24).toString('hex');
    await writeFile(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });

    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all(
      Array.from({ length: 6 }, () => freePort()),
    );
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = startProcess(
      'etcd',
      binaries.etcd,
      [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      logDir,
    );
    procs.push(etcd);
    await waitFor('etcd /health', async () => (await fetch(`${etcdUrl}/health`)).ok, {
      timeoutMs: 30_000,
      process: etcd,
    });
    mark('etcd healthy');

    const server = `https://127.0.0.1:${apiPort}`;
    const issuer = 'https://kubernetes.default.svc.cluster.local';
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      `--advertise-address=${realHost?.net.nodeIp ?? '127.0.0.1'}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--service-account-issuer=${issuer}`,
      `--api-audiences=${issuer}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--allow-privileged=true',
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-client-certificate=${pki.kubeletClientCert}`,
      `--kubelet-client-key=${pki.kubeletClientKey}`,
      '--profiling=false',
      '--enable-priority-and-fairness=false',
      '--event-ttl=1h',
      '--v=0',
    ];
    const auditLog = opts.audit ? join(dir, 'audit.log') : undefined;
    if (opts.audit && auditLog) {
      const policy = join(dir, 'audit-policy.json');
      await writeFile(policy, JSON.stringify(auditPolicy(opts.audit.users)));
      apiserverArgs.push(
        `--audit-policy-file=${policy}`,
        `--audit-log-path=${auditLog}`,
        '--audit-log-format=json',
        '--audit-log-mode=blocking',
        '--audit-log-maxsize=0',
      );
    }
    let apiserver = startProcess('kube-apiserver', binaries['kube-apiserver'], apiserverArgs, logDir);
    procs.push(apiserver);
    const admin = new AdminClient(server, caPem, adminToken);
    await waitFor('kube-apiserver /readyz', async () => (await admin.call('GET', '/readyz')).status === 200, {
      timeoutMs: 60_000,
      intervalMs: 200,
      process: apiserver,
    });
    mark('kube-apiserver ready');

    const kubeconfig = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, renderKubeconfig(server, caPem, adminToken), { mode: 0o600 });

    procs.push(
      startProcess(
        'kube-controller-manager',
        binaries['kube-controller-manager'],
        [
          `--kubeconfig=${kubeconfig}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          `--cert-dir=${join(dir, 'kcm')}`,
          `--root-ca-file=${pki.caCert}`,
          `--service-account-private-key-file=${pki.saKey}`,
          '--use-service-account-credentials=false',
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.caKey}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          // Namespaces and their children must go quickly in tests; the defaults are tuned for big clusters.
          '--concurrent-namespace-syncs=5',
          '--concurrent-gc-syncs=10',
          // The default client limit (20/s, burst 30) is shared by every controller: deleting a namespace costs it a
          // discovery, a list and a deletecollection per resource type, so tearing down tens of war rooms at once
          // (plus the GC, Job, ReplicaSet and StatefulSet controllers reacting) queued for minutes. kwokctl lifts
          // the limit the same way for its clusters.
          '--kube-api-qps=500',
          '--kube-api-burst=1000',
          // kwok has no storage: the built-in test-only host-path provisioner binds PVCs (StatefulSets need them).
          '--enable-hostpath-provisioner=true',
          '--pvclaimbinder-sync-period=1s',
        ],
        logDir,
      ),
      startProcess(
        'kube-scheduler',
        binaries['kube-scheduler'],
        [
          `--kubeconfig=${kubeconfig}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${schedPort}`,
          // Default 50/s, burst 100: binding the ~5 pods of each of hundreds of war rooms queued behind it.
          '--kube-api-qps=500',
          '--kube-api-burst=1000',
        ],
        logDir,
      ),
    );
    if (nodeKind === 'kwok') {
      procs.push(
        startProcess(
          'kwok',
          binaries.kwok,
          [
            `--kubeconfig=${kubeconfig}`,
            '--manage-all-nodes=false',
            '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
            '--manage-nodes-with-label-selector=',
            '--manage-single-node=',
            `--cidr=${POD_CIDR}`,
            '--node-ip=10.244.255.1',
            '--node-lease-duration-seconds=40',
            `--server-address=127.0.0.1:${kwokPort}`,
          ],
          logDir,
        ),
      );
    }

    await admin.create('/apis/storage.k8s.io/v1/storageclasses', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      // kwok: the controller-manager's test-only host-path provisioner; real node: local volumes (local-volumes.ts).
      provisioner: nodeKind === 'real' ? LOCAL_VOLUME_PROVISIONER : 'kubernetes.io/host-path',
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
    });

    if (realHost) {
      realNode = await realHost.start({
        logDir,
        server,
        admin,
        adminToken,
        ca: { cert: pki.caCert, key: pki.caKey },
        binaries,
        images: opts.images,
        sandboxImage: opts.sandboxImage,
        enforceNetworkPolicies: opts.networkPolicies ?? true,
        log,
        mark,
      });
    }
    const nodeCount = nodeKind === 'kwok' ? (opts.nodes ?? 1) : 0;
    for (let i = 0; i < nodeCount; i++) await admin.create('/api/v1/nodes', kwokNode(`${KWOK_NODE_PREFIX}${i}`));
    if (nodeKind === 'kwok')
      await waitFor(
        'kwok nodes Ready',
        async () => {
          const list = await admin.getJson<NodeList>('/api/v1/nodes');
          const ready = (list?.items ?? []).filter((n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          return ready.length >= nodeCount;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    if (nodeKind === 'kwok') mark('kwok node Ready');
    // Pods can't be admitted until the controller-manager has created the namespace's default ServiceAccount.
    await waitFor(
      'default ServiceAccount',
      async () => (await admin.getJson('/api/v1/namespaces/default/serviceaccounts/default')) !== undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    mark('cluster ready');
    const restartApiServer = async () => {
      await stopProcess(apiserver);
      const next = startProcess('kube-apiserver', binaries['kube-apiserver'], apiserverArgs, logDir);
      procs[procs.indexOf(apiserver)] = next;
      apiserver = next;
      await waitFor(
        'kube-apiserver /readyz after restart',
        async () => (await admin.call('GET', '/readyz')).status === 200,
        {
          timeoutMs: 60_000,
          intervalMs: 200,
          process: next,
        },
      );
    };
    const node = realNode;
    const importImage = async (archivePath: string) => {
      if (!node) throw new Error('importImage needs a real node: startCluster({ node: "real" })');
      await node.importImage(archivePath);
    };
    const realNodeInfo = node && {
      name: node.name,
      nodeIp: node.nodeIp,
      bridge: node.bridge,
      podSubnet: node.podSubnet,
      clusterDnsIp: node.clusterDnsIp,
      containerdAddress: node.containerdAddress,
      sandboxImage: node.sandboxImage,
      networkPolicies: node.networkPolicies,
    };
    return {
      dir,
      kubeconfig,
      server,
      caPem,
      adminToken,
      binaries,
      timings,
      node: nodeKind,
      realNode: realNodeInfo,
      auditLog,
      importImage,
      restartApiServer,
      stop,
      releaseRealNodeLock: async () => realHost?.releaseLock(),
    };
  } catch (err) {
    keepDir = true;
    await stop();
    throw new Error(`local cluster failed to start (logs kept in ${logDir}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Metadata of the given users' requests, once each (when the response is complete); nothing of anyone else. */
function auditPolicy(users: string[]) {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived', 'ResponseStarted'],
    rules: [{ level: 'Metadata', users }, { level: 'None' }],
  };
}

interface NodeList {
  items: { status?: { conditions?: { type: string; status: string }[] } }[];
}

function kwokNode(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        type: 'kwok',
      },
    },
    // A fake node runs nothing: room for the ~5 pods of each of hundreds of war rooms (a real kubelet's 110 left
    // every pod past the 110th Pending, so at 25+ channels most of them never became Ready).
    status: {
      allocatable: { cpu: '1000', memory: '4Ti', pods: '2000' },
      capacity: { cpu: '1000', memory: '4Ti', pods: '2000' },
    },
  };
}

export function renderKubeconfig(server: string, caPem: string, token: string, user = 'admin'): string {
  const ca = Buffer.from(caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: warroom-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: warroom-local',
    '  context:',
    '    cluster: warroom-local',
    `    user: ${user}`,
    'current-context: warroom-local',
    '',
  ].join('\n');
}
