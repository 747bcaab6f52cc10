// kind in offline mode, end to end: the one-per-machine lock, the hand-started engine, the locally built node image,
// `kind create cluster` from kind-config.yaml (plus what offline needs: no kindnet, the local node image), CoreDNS
// without a forwarder, kube-router's policy controller (test peer), the project's images loaded, sealed-secrets from
// its chart in the pinned module, the chart with images.* set to the local images. kindDown undoes all of it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { ensureBinaries } from '../cluster/binaries.ts';
import { acquireRealNodeLock, type LockHolder, REAL_NODE_LOCK, readLockHolder } from '../cluster/real-node-lock.ts';
import { type BuiltImage, ensureImages, type ImageName, RUNTIME_IMAGES } from '../images/build.ts';
import { sealedSecretsChartArgs, splitImageRef } from '../images/sealed-secrets-chart.ts';
import {
  ENGINE_RUN_DIR,
  type Engine,
  offlineEngineEnv,
  runningEnginePid,
  startOfflineEngine,
  stopOfflineEngine,
} from './engine.ts';
import { ensureNodeImage } from './node-image.ts';
import { reapStaleHolder } from './reap-stale.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KIND_CONFIG = join(ROOT, 'kind-config.yaml');
const CHART = join(ROOT, 'charts/warroom');
const KUBE_ROUTER_MANIFEST = fileURLToPath(new URL('./kube-router.yaml', import.meta.url));
export const CLUSTER_NAME = 'warroom';
export const OPERATOR_NAMESPACE = 'warroom-system';
export const OPERATOR_RELEASE = 'warroom';
/** The node container kind names after the cluster. */
export const NODE_CONTAINER = `${CLUSTER_NAME}-control-plane`;
const DEFAULT_LOCK_WAIT_MS = 10 * 60_000;

/** CoreDNS for cluster names only: kubeadm's Corefile minus `forward`, so no query ever leaves the cluster. */
export const COREFILE = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    cache 30
    loop
    reload
    loadbalance
}
`;

export interface OfflineKind {
  engine: Engine;
  kubeconfig: string;
  context: string;
  bin: { kind: string; kubectl: string; helm: string };
  images: Record<ImageName, BuiltImage>;
  nodeImage: string;
  /** Seconds from the start of kindUp, per step. */
  timings: Record<string, number>;
  kubectl(args: string[], input?: string): Promise<string>;
  helm(args: string[]): Promise<string>;
  docker(args: string[]): Promise<string>;
}

export interface UpOptions {
  log: (m: string) => void;
  /** Install sealed-secrets and the chart (default true); false leaves a bare cluster. */
  installWarroom?: boolean;
  /** Called once the one-per-machine lock is held, before the cluster changes the host's network. */
  onLocked?: () => Promise<void>;
  /** How long to wait for a real-node cluster (or another kind) to release the one-per-machine lock (default 10 min). */
  lockWaitMs?: number;
}

export const kubeconfigPath = () => join(ENGINE_RUN_DIR, 'kubeconfig');

/** The config kind is given offline: kind-config.yaml as a laptop uses it, plus the offline node image and no kindnet. */
export function offlineConfig(nodeImage: string): string {
  const config = parse(readFileSync(KIND_CONFIG, 'utf8')) as {
    networking: Record<string, unknown>;
    nodes: { image?: string; extraPortMappings?: { containerPort: number }[] }[];
  };
  // No kindnet image can be had offline: the node image carries a plain ptp CNI, kube-router enforces policies.
  config.networking.disableDefaultCNI = true;
  for (const node of config.nodes) {
    node.image = nodeImage;
    // 80/443 serve ingress-nginx, which is an online-only add-on: no docker-proxy for them offline.
    node.extraPortMappings = (node.extraPortMappings ?? []).filter(
      (m) => m.containerPort !== 80 && m.containerPort !== 443,
    );
  }
  return stringify(config);
}

function stepTimer(log: (m: string) => void) {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  return {
    timings,
    mark(what: string) {
      timings[what] = Number(((performance.now() - t0) / 1000).toFixed(1));
      log(`${what} (${timings[what]} s)`);
    },
  };
}

async function exec(bin: string, args: string[], env: NodeJS.ProcessEnv, input?: string, timeout = 600_000) {
  try {
    const p = execFileP(bin, args, { env, maxBuffer: 64 << 20, timeout });
    if (input !== undefined) p.child.stdin?.end(input);
    return (await p).stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${bin.split('/').at(-1)} ${args.slice(0, 4).join(' ')}… failed: ${(e.stderr ?? '') || e.message}`);
  }
}

/** Brings the offline kind cluster up (cold: builds; warm: everything cached) and returns handles to it. */
export async function kindUpOffline(o: UpOptions): Promise<OfflineKind> {
  const { timings, mark } = stepTimer(o.log);
  // Builds and the engine first: neither touches the host's network (the engine makes no bridge, rule or route until
  // a cluster exists), so a cold build never holds the one-per-machine lock that real-node runs wait on.
  const bins = await ensureBinaries(['kind', 'kubectl', 'helm']);
  const bin = { kind: bins.kind, kubectl: bins.kubectl, helm: bins.helm };
  mark('kind, kubectl, helm ready');
  const images = await ensureImages([...RUNTIME_IMAGES]);
  mark('project images ready');
  const engine = await startOfflineEngine(o.log);
  mark('engine up');
  const env = { ...engine.env, KIND_EXPERIMENTAL_PROVIDER: 'docker' };
  const node = await ensureNodeImage(env, o.log);
  mark(node.built ? 'node image built' : 'node image found in the engine');

  const held = await readLockHolder();
  if (held?.dir === ENGINE_RUN_DIR && held.pid === engine.pid) {
    o.log(`this engine (dockerd pid ${engine.pid}) already holds the one-per-machine lock`);
  } else {
    await takeLock(engine, o.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, o.log);
  }
  mark('one-per-machine lock held');
  await o.onLocked?.();
  try {
    const kubeconfig = kubeconfigPath();
    const context = `kind-${CLUSTER_NAME}`;
    const kubectl = (args: string[], input?: string) =>
      exec(bin.kubectl, ['--kubeconfig', kubeconfig, '--context', context, ...args], env, input);
    const helmDir = join(ENGINE_RUN_DIR, 'helm');
    const helmEnv = {
      ...env,
      KUBECONFIG: kubeconfig,
      HELM_CACHE_HOME: join(helmDir, 'cache'),
      HELM_CONFIG_HOME: join(helmDir, 'config'),
      HELM_DATA_HOME: join(helmDir, 'data'),
    };
    const helm = (args: string[]) => exec(bin.helm, ['--kube-context', context, ...args], helmEnv);
    const docker = (args: string[]) => exec('docker', args, env);
    const clusters = (await exec(bin.kind, ['get', 'clusters'], env)).split('\n');
    if (!clusters.includes(CLUSTER_NAME)) {
      const config = join(ENGINE_RUN_DIR, 'kind-config.offline.yaml');
      await writeFile(config, offlineConfig(node.ref));
      const t = performance.now();
      await exec(
        bin.kind,
        ['create', 'cluster', '--name', CLUSTER_NAME, '--config', config, '--kubeconfig', kubeconfig, '--wait', '180s'],
        env,
      );
      timings['kind create cluster (s)'] = Number(((performance.now() - t) / 1000).toFixed(1));
      mark('kind create cluster done');
    } else {
      o.log(`kind cluster ${CLUSTER_NAME} exists; reusing it`);
      await exec(bin.kind, ['export', 'kubeconfig', '--name', CLUSTER_NAME, '--kubeconfig', kubeconfig], env);
    }
    await settle(kubectl);
    mark('CoreDNS (no forwarder), storage and kube-router running');

    const k: OfflineKind = {
      engine,
      kubeconfig,
      context,
      bin,
      images,
      nodeImage: node.ref,
      timings,
      kubectl,
      helm,
      docker,
    };
    if (o.installWarroom !== false) {
      await loadImages(k, env);
      mark('project images loaded into the node');
      await installSealedSecrets(k);
      mark('sealed-secrets controller running (its chart, local image)');
      await installChart(k);
      mark('operator running (our chart, local images)');
    }
    return k;
  } catch (err) {
    o.log(
      `kind:up failed: ${(err as Error).message.split('\n')[0]}; the cluster and engine stay up for a look (npm run kind:down)`,
    );
    throw err;
  }
}

/** The real node's lock (both change the host's network), then handed to dockerd, which outlives this process. */
async function takeLock(engine: Engine, waitMs: number, log: (m: string) => void): Promise<void> {
  const me: LockHolder = { pid: process.pid, dir: ENGINE_RUN_DIR, startedAt: new Date().toISOString() };
  const lock = await acquireRealNodeLock(me, {
    waitMs,
    reapStale: (holder) => reapStaleHolder(holder, log, 'kind'),
    log,
  });
  if (engine.pid) await lock.update({ pid: engine.pid });
}

/** What `kind create --wait` does not wait for: the default ServiceAccount, CoreDNS, the storage provisioner. */
async function settle(kubectl: OfflineKind['kubectl']): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await kubectl(['-n', 'default', 'get', 'serviceaccount', 'default', '-o', 'name']).catch(() => ''))) {
    if (Date.now() > deadline) throw new Error('the default ServiceAccount never appeared');
    await new Promise((r) => setTimeout(r, 500));
  }
  const corefile = await kubectl([
    '-n',
    'kube-system',
    'get',
    'configmap',
    'coredns',
    '-o',
    'jsonpath={.data.Corefile}',
  ]);
  if (corefile.trim() !== COREFILE.trim()) {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'coredns', namespace: 'kube-system' },
      data: { Corefile: COREFILE },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(cm));
    await kubectl(['-n', 'kube-system', 'rollout', 'restart', 'deployment/coredns']);
  }
  await kubectl(['apply', '-f', KUBE_ROUTER_MANIFEST]);
  await kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=180s']);
  await kubectl([
    '-n',
    'local-path-storage',
    'rollout',
    'status',
    'deployment/local-path-provisioner',
    '--timeout=180s',
  ]);
  await kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/kube-router', '--timeout=180s']);
}

async function loadImages(k: OfflineKind, env: NodeJS.ProcessEnv): Promise<void> {
  // The pause image is in the node image already (kubeadm's sandbox image).
  for (const name of RUNTIME_IMAGES.filter((n) => n !== 'pause')) {
    await exec(k.bin.kind, ['load', 'image-archive', k.images[name].archive, '--name', CLUSTER_NAME], env);
  }
}

async function installSealedSecrets(k: OfflineKind): Promise<void> {
  await k.helm(['upgrade', '--install', ...(await sealedSecretsChartArgs(k.images['sealed-secrets-controller'].ref))]);
}

/** The node network (kind's docker network): TURN relays must never reach it either. */
async function nodeCidrs(k: OfflineKind): Promise<string[]> {
  const out = await k.docker(['network', 'inspect', 'kind', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{end}}']);
  return out.split(/\s+/).filter((s) => s.includes('.'));
}

async function installChart(k: OfflineKind): Promise<void> {
  const ns = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: OPERATOR_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  };
  await k.kubectl(['apply', '-f', '-'], JSON.stringify(ns));
  const operator = splitImageRef(k.images.operator.ref);
  await k.helm([
    'upgrade',
    '--install',
    OPERATOR_RELEASE,
    CHART,
    '--namespace',
    OPERATOR_NAMESPACE,
    '--set',
    `image.repository=${operator.registry}/${operator.repository}`,
    '--set',
    `image.tag=${operator.tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    'replicaCount=1',
    '--set',
    `images.synapse=${k.images.synapse.ref}`,
    '--set',
    `images.coturn=${k.images.coturn.ref}`,
    '--set',
    `images.element=${k.images.element.ref}`,
    '--set',
    `images.postgres=${k.images.postgres.ref}`,
    '--set',
    `images.livekit=${k.images.livekit.ref}`,
    '--set',
    'secrets.mode=sealed',
    // examples/kind.yaml pins 32000-32019, the ports kind-config.yaml maps: other war rooms' blocks go below them.
    '--set',
    'operator.relayPorts=30000-31999',
    '--set-json',
    'operator.network.podCidrs=["10.244.0.0/16"]',
    '--set-json',
    'operator.network.serviceCidrs=["10.96.0.0/16"]',
    '--set-json',
    `operator.network.nodeCidrs=${JSON.stringify(await nodeCidrs(k))}`,
    '--wait',
    '--timeout',
    '3m',
  ]);
}

/** Deletes the cluster, stops the engine, removes what it left, and releases the lock (if this engine holds it). */
export async function kindDownOffline(log: (m: string) => void, opts: { keepLock?: boolean } = {}): Promise<void> {
  const env = { ...offlineEngineEnv(), KIND_EXPERIMENTAL_PROVIDER: 'docker' };
  if (await runningEnginePid()) {
    const { kind } = await ensureBinaries(['kind']);
    const clusters = (await exec(kind, ['get', 'clusters'], env).catch(() => '')).split('\n');
    if (clusters.includes(CLUSTER_NAME)) {
      log(`deleting kind cluster ${CLUSTER_NAME}`);
      await exec(kind, ['delete', 'cluster', '--name', CLUSTER_NAME, '--kubeconfig', kubeconfigPath()], env);
    }
  }
  const held = await readLockHolder();
  if (opts.keepLock && held?.dir === ENGINE_RUN_DIR) {
    // The lock names dockerd, which is about to stop: a real-node run waiting on it would take a dead holder's lock
    // at once (and start its bridge and rules while the caller still checks the host). This process holds it now.
    await writeFile(REAL_NODE_LOCK, JSON.stringify({ ...held, pid: process.pid }));
  }
  await stopOfflineEngine(log);
  if (!opts.keepLock) await releaseKindLock();
}

/** Releases the one-per-machine lock if kind's engine holds it. */
export async function releaseKindLock(): Promise<void> {
  if ((await readLockHolder())?.dir === ENGINE_RUN_DIR) await rm(REAL_NODE_LOCK, { force: true });
}
