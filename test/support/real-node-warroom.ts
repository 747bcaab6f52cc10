// The war room on a REAL node, set up the way a cluster admin would: the project's images (built here, cached), a
// real-node cluster importing them, the sealed-secrets controller from its UPSTREAM Helm chart as a real pod, the
// operator from OUR chart as a real pod, then IncidentChannels. Shared by test/e2e/real-node-warroom.test.ts,
// hack/demo.ts and bench/real-node-warroom.ts, so the three run exactly the same flow.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ensureBinaries } from '../../hack/cluster/binaries.ts';
import { ctr } from '../../hack/cluster/containerd.ts';
import { type LocalCluster, startCluster } from '../../hack/cluster/local-cluster.ts';
import { type BuiltImage, ensureImages, type ImageName, RUNTIME_IMAGES } from '../../hack/images/build.ts';
import { sealedSecretsChartArgs, splitImageRef } from '../../hack/images/sealed-secrets-chart.ts';
import { PORTS } from '../../src/controllers/incidentchannel/desired/ports.ts';
import { participantSecretName } from '../../src/controllers/incidentchannel/desired/secret-names.ts';
import { participantPasswordKey } from '../../src/crypto/secret-material.ts';
import type { RecorderStatus } from '../../src/recorder/recorder.ts';
import { kubectl } from './kubectl.ts';
import { type SdkUser, startSdkUser } from './matrix-sdk-client.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'charts/warroom');
const EXAMPLE = join(ROOT, 'examples/minimal.yaml');
const FULL_EXAMPLE = join(ROOT, 'examples/full.yaml');
/** The sealed-secrets version the project pins (its kubeseal and controller are built from the same module). */
export const OPERATOR_NAMESPACE = 'warroom-system';
export const OPERATOR_RELEASE = 'warroom';
/** The chart's fullname: a release name that contains the chart's name is used as it is (Helm's convention). */
const OPERATOR_FULLNAME = OPERATOR_RELEASE;
/** Where the chart mounts the operator's evidence volume (archives under evidence/, the signing key). */
export const EVIDENCE_MOUNT = '/var/lib/warroom';
/** How long a real-node start waits for another real-node run on this machine (one at a time) before failing. */
const REAL_NODE_LOCK_WAIT_MS = 20 * 60_000;

export type Kubectl = ReturnType<typeof kubectl>;

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface Channel {
  metadata: { name: string; uid: string };
  status?: {
    phase?: string;
    namespace?: string;
    recording?: { events?: number; headHash?: string };
    archive?: { location?: string; sha256?: string; verifiedAt?: string };
    conditions?: Condition[];
  };
}

export const conditionOf = (c: Channel | undefined, type: string): Condition | undefined =>
  c?.status?.conditions?.find((x) => x.type === type);

export interface WarRoomEnvOptions {
  log?: (m: string) => void;
}

export interface WarRoomEnv {
  cluster: LocalCluster;
  k: Kubectl;
  images: Record<ImageName, BuiltImage>;
  /** Seconds ensureImages took, and the images it had to build (empty: every image came from the cache). */
  imageSeconds: number;
  imagesBuilt: string[];
  /** Seconds from the start of set-up: images, cluster, sealed-secrets, operator. */
  timings: Record<string, number>;
  helm(args: string[]): Promise<string>;
  /** examples/minimal.yaml under a unique name (same case id pattern), with optional spec overrides. */
  channelManifest(name: string, spec?: Record<string, unknown>): Record<string, unknown>;
  /**
   * examples/full.yaml (every field: Postgres, Ingress, calls on a NodePort with an external IP) under a unique name,
   * its registry images replaced by the images built here (nothing can be pulled on this machine).
   */
  fullChannelManifest(name: string): Record<string, unknown>;
  channel(name: string): Promise<Channel | undefined>;
  /** Polls the channel until `ok` returns a value; on timeout the error holds the channel's conditions. */
  waitForChannel<T>(name: string, what: string, ok: (c: Channel) => T | undefined, timeoutMs: number): Promise<T>;
  /** A participant's password, read as cluster admin from the Secret the sealed-secrets controller unsealed. */
  participantPassword(namespace: string, handle: string): Promise<string>;
  /** http://<Synapse Service ClusterIP>:8008: reachable from the host through kube-proxy's rules. */
  synapseUrl(namespace: string): Promise<string>;
  /** The recorder sidecar's read-only /status, through the Synapse Service's ClusterIP (port 9101). */
  recorderStatus(namespace: string): Promise<RecorderStatus>;
  /** containerd's containers (not sandboxes) of a namespace's pods, from the node's runtime itself. */
  containersOf(namespace: string): Promise<{ id: string; container: string; pod: string }[]>;
  /** Every container (sandboxes included) labelled with the namespace, straight from containerd. */
  anythingOf(namespace: string): Promise<string[]>;
  /** SIGKILLs a container's task through containerd (the images have no shell: `kubectl exec kill` is impossible). */
  killContainer(namespace: string, container: string): Promise<string>;
  /** The host directory of the operator's evidence PVC (a local PV under the run dir), read from the PV object. */
  evidenceHostDir(): Promise<string>;
  /** The operator's log (for failures). */
  operatorLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Ensures the images, starts the real-node cluster with them imported, installs the sealed-secrets controller
 * (upstream chart, local image) and the operator (our chart, local images, sealed secrets, the node's CIDRs), and
 * waits until both run. `stop()` tears the cluster down, leaving nothing behind.
 */
export async function startWarRoomEnv(opts: WarRoomEnvOptions = {}): Promise<WarRoomEnv> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[real-node-warroom] ${m}\n`));
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const mark = (what: string) => {
    timings[what] = Number(((performance.now() - t0) / 1000).toFixed(1));
    log(`${what} (${timings[what]} s)`);
  };
  const work = await mkdtemp(join(tmpdir(), 'warroom-real-warroom-'));
  let cluster: LocalCluster | undefined;
  try {
    const i0 = performance.now();
    const images = await ensureImages([...RUNTIME_IMAGES]);
    const imageSeconds = (performance.now() - i0) / 1000;
    const imagesBuilt = Object.entries(images)
      .filter(([, i]) => i.built)
      .map(([n]) => n);
    mark(imagesBuilt.length > 0 ? `images built (${imagesBuilt.join(', ')})` : 'images found in the cache');
    const helmBin = (await ensureBinaries(['helm'])).helm;

    // The pause image is the harness's sandbox image; it imports that one itself.
    const archives = RUNTIME_IMAGES.filter((n) => n !== 'pause').map((n) => images[n].archive);
    cluster = await startCluster({
      node: 'real',
      images: archives,
      realNodeLockWaitMs: REAL_NODE_LOCK_WAIT_MS,
      log: (m) => log(`cluster: ${m}`),
    });
    const c = cluster;
    const node = c.realNode;
    if (!node) throw new Error('the cluster has no real node');
    mark('real-node cluster ready, images imported');
    const k = kubectl(c);

    const helm = async (args: string[]): Promise<string> => {
      const env = {
        ...process.env,
        KUBECONFIG: c.kubeconfig,
        HELM_CACHE_HOME: join(work, 'helm/cache'),
        HELM_CONFIG_HOME: join(work, 'helm/config'),
        HELM_DATA_HOME: join(work, 'helm/data'),
      };
      try {
        return (await run(helmBin, args, { env, maxBuffer: 64 << 20, timeout: 600_000 })).stdout;
      } catch (err) {
        const e = err as { stderr?: string; stdout?: string; message: string };
        throw new Error(`helm ${args[0]} failed: ${(e.stderr ?? '') + (e.stdout ?? '') || e.message}`);
      }
    };

    // The sealed-secrets controller: its upstream chart (inside the Go module the kubeseal build downloaded), with
    // the controller image built here from the same version.
    await helm(['install', ...(await sealedSecretsChartArgs(images['sealed-secrets-controller'].ref))]);
    mark('sealed-secrets controller running (upstream chart)');

    // The operator from our chart, as a real pod with the chart's RBAC, pointed at the local images.
    await k.apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: OPERATOR_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    });
    const operator = splitImageRef(images.operator.ref);
    await helm([
      'install',
      OPERATOR_RELEASE,
      CHART,
      '--namespace',
      OPERATOR_NAMESPACE,
      '--set',
      `image.repository=${operator.registry}/${operator.repository}`,
      '--set',
      `image.tag=${operator.tag}`,
      '--set',
      'image.pullPolicy=IfNotPresent',
      '--set',
      `images.synapse=${images.synapse.ref}`,
      '--set',
      `images.coturn=${images.coturn.ref}`,
      '--set',
      `images.element=${images.element.ref}`,
      '--set',
      `images.postgres=${images.postgres.ref}`,
      '--set',
      `images.livekit=${images.livekit.ref}`,
      '--set',
      'secrets.mode=sealed',
      // examples/full.yaml pins 32000-32021: minimal.yaml's allocated block must never be among them.
      '--set',
      'operator.relayPorts=30000-31999',
      '--set-json',
      `operator.network.podCidrs=${JSON.stringify([node.podSubnet])}`,
      '--set-json',
      `operator.network.serviceCidrs=${JSON.stringify(['10.96.0.0/16'])}`,
      '--set-json',
      `operator.network.nodeCidrs=${JSON.stringify([`${node.nodeIp}/32`])}`,
      // The chart's own NetworkPolicy lets the operator reach the API server only at these addresses and ports, as
      // its values ask an admin to set: here the node-side forwarder (the kubernetes Service's endpoint) on the
      // node IP, at the apiserver's port. Enforced: kube-router runs on the real node.
      '--set-json',
      `networkPolicy.apiServerCidrs=${JSON.stringify([`${node.nodeIp}/32`])}`,
      '--set-json',
      `networkPolicy.apiServerPorts=${JSON.stringify([Number(new URL(c.server).port)])}`,
      '--wait',
      '--timeout',
      '3m',
    ]);
    mark('operator running (our chart)');

    const channel = (name: string) => k.getJson<Channel>(['incidentchannel', name]);
    const operatorLog = () =>
      k
        .exec(['-n', OPERATOR_NAMESPACE, 'logs', `deployment/${OPERATOR_FULLNAME}`, '--tail=200'])
        .catch((e: Error) => `(no operator log: ${e.message})`);
    const containersOf = async (namespace: string) => {
      const out = await ctr({ address: node.containerdAddress }, [
        'containers',
        'ls',
        '-q',
        `labels."io.kubernetes.pod.namespace"==${namespace}`,
      ]);
      const ids = out.stdout.split('\n').filter(Boolean);
      const rows: { id: string; container: string; pod: string }[] = [];
      for (const id of ids) {
        const info = JSON.parse(
          (await ctr({ address: node.containerdAddress }, ['containers', 'info', id])).stdout,
        ) as {
          Labels?: Record<string, string>;
        };
        const labels = info.Labels ?? {};
        if (labels['io.cri-containerd.kind'] !== 'container') continue;
        rows.push({
          id,
          container: labels['io.kubernetes.container.name'] ?? '',
          pod: labels['io.kubernetes.pod.name'] ?? '',
        });
      }
      return rows;
    };
    const env: WarRoomEnv = {
      cluster: c,
      k,
      images,
      imageSeconds,
      imagesBuilt,
      timings,
      helm,
      channelManifest(name, spec = {}) {
        const example = parse(readFileSync(EXAMPLE, 'utf8')) as {
          metadata: Record<string, unknown>;
          spec: Record<string, unknown>;
        };
        return {
          ...example,
          metadata: { ...example.metadata, name },
          spec: { ...example.spec, caseId: name, ...spec },
        };
      },
      fullChannelManifest: (name) => fullExampleChannel(name, images),
      channel,
      async waitForChannel(name, what, ok, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        let last: Channel | undefined;
        while (Date.now() < deadline) {
          last = await channel(name).catch(() => last);
          const v = last && ok(last);
          if (v) return v;
          await new Promise((r) => setTimeout(r, 500));
        }
        const conditions = (last?.status?.conditions ?? [])
          .map((x) => `${x.type}=${x.status} ${x.reason}: ${x.message}`)
          .join('\n  ');
        throw new Error(
          `channel ${name}: ${what} not reached in ${timeoutMs / 1000} s (phase ${last?.status?.phase}); conditions:\n  ${conditions}`,
        );
      },
      async participantPassword(namespace, handle) {
        const secret = await k.getJson<{ data?: Record<string, string> }>([
          '-n',
          namespace,
          'secret',
          participantSecretName(handle),
        ]);
        const value = secret?.data?.[participantPasswordKey(handle)];
        if (!value) throw new Error(`no password for ${handle} in ${namespace} (not unsealed yet?)`);
        return Buffer.from(value, 'base64').toString('utf8');
      },
      async synapseUrl(namespace) {
        const svc = await k.getJson<{ spec: { clusterIP: string } }>(['-n', namespace, 'service', 'synapse']);
        if (!svc?.spec.clusterIP) throw new Error(`no Synapse Service in ${namespace}`);
        return `http://${svc.spec.clusterIP}:${PORTS.synapseClient}`;
      },
      async recorderStatus(namespace) {
        const base = (await this.synapseUrl(namespace)).replace(`:${PORTS.synapseClient}`, `:${PORTS.recorder}`);
        const res = await fetch(`${base}/status`, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`recorder /status in ${namespace}: HTTP ${res.status}`);
        return (await res.json()) as RecorderStatus;
      },
      containersOf,
      async anythingOf(namespace) {
        const out = await ctr({ address: node.containerdAddress }, [
          'containers',
          'ls',
          '-q',
          `labels."io.kubernetes.pod.namespace"==${namespace}`,
        ]);
        return out.stdout.split('\n').filter(Boolean);
      },
      async killContainer(namespace, container) {
        const target = (await containersOf(namespace)).find((x) => x.container === container);
        if (!target) throw new Error(`no ${container} container in ${namespace}`);
        await ctr({ address: node.containerdAddress }, ['tasks', 'kill', '--signal', 'SIGKILL', target.id]);
        return target.id;
      },
      async evidenceHostDir() {
        const claim = await k.getJson<{ spec: { volumeName?: string } }>([
          '-n',
          OPERATOR_NAMESPACE,
          'pvc',
          `${OPERATOR_FULLNAME}-evidence`,
        ]);
        const pvName = claim?.spec.volumeName;
        if (!pvName) throw new Error('the evidence PVC is not bound');
        const pv = await k.getJson<{ spec: { local?: { path: string }; hostPath?: { path: string } } }>(['pv', pvName]);
        const path = pv?.spec.local?.path ?? pv?.spec.hostPath?.path;
        if (!path) throw new Error(`PV ${pvName} has no host path`);
        return path;
      },
      operatorLog,
      async stop() {
        await c.stop();
        await rm(work, { recursive: true, force: true });
      },
    };
    return env;
  } catch (err) {
    await cluster?.stop().catch((e: Error) => log(`cluster stop: ${e.message}`));
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A participant's matrix-js-sdk client (Rust crypto) on the host, logged in through the Synapse Service's ClusterIP
 * with the password from its Secret.
 */
export async function startParticipant(env: WarRoomEnv, namespace: string, handle: string): Promise<SdkUser> {
  const [url, password] = await Promise.all([env.synapseUrl(namespace), env.participantPassword(namespace, handle)]);
  return startSdkUser(url, handle, password);
}

/**
 * Resolves #ops, waits for the participant's invite (sent once the recorder is in), joins, and waits until the client
 * knows the room is encrypted; returns the room id.
 */
export async function joinOps(env: WarRoomEnv, namespace: string, user: SdkUser): Promise<string> {
  const server = user.userId.slice(user.userId.indexOf(':') + 1);
  const alias = encodeURIComponent(`#ops:${server}`);
  const res = await fetch(`${await env.synapseUrl(namespace)}/_matrix/client/v3/directory/room/${alias}`, {
    headers: { authorization: `Bearer ${user.accessToken}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`#ops does not resolve in ${namespace}: HTTP ${res.status}`);
  const roomId = ((await res.json()) as { room_id: string }).room_id;
  await user.waitForMembership(roomId, 'invite', 60_000);
  await user.joinRoom(roomId);
  // Right after the join the client may not have processed the room's state yet: it would say "not encrypted" (and
  // could send in clear). Wait, bounded, until its crypto knows the room is E2EE; the caller checks the answer.
  const deadline = Date.now() + 20_000;
  while (!(await user.isEncryptionEnabled(roomId)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  return roomId;
}

/**
 * examples/full.yaml under a unique name, its registry images replaced by the images built here (nothing can be
 * pulled on this machine); shared with the kind e2e, whose node holds the same images.
 */
export function fullExampleChannel(
  name: string,
  images: Record<'synapse' | 'element' | 'coturn' | 'postgres' | 'operator', { ref: string }>,
): Record<string, unknown> {
  const example = parse(readFileSync(FULL_EXAMPLE, 'utf8')) as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
  };
  const local = {
    synapse: images.synapse.ref,
    element: images.element.ref,
    coturn: images.coturn.ref,
    postgres: images.postgres.ref,
    recorder: images.operator.ref,
  };
  return {
    ...example,
    metadata: { ...example.metadata, name },
    spec: { ...example.spec, caseId: name, images: local },
  };
}

/** A unique channel name for a run: `ir-<tag>-<hex>`. */
export function uniqueChannelName(tag: string): string {
  return `ir-${tag}-${randomBytes(3).toString('hex')}`;
}

/** `localhost/warroom/x:tag` → registry `localhost`, repository `warroom/x`, tag. */
