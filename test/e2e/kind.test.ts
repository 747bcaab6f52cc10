// The war room on KIND, offline, end to end: Debian's dockerd started by hand, the node image built here (cached),
// `kind create cluster` from kind-config.yaml, sealed-secrets from its chart and the operator from ours (local images),
// examples/minimal.yaml → Ready, a participant logs in through `kubectl port-forward` and sends an E2EE message the
// recorder keeps, NetworkPolicies enforced (kube-router, a test peer), nothing leaves the machine (CoreDNS has no
// forwarder, the node's egress guard), war room B from examples/full.yaml and the real node's isolation matrix
// (test/support/isolation-matrix.ts) against A and B, close → Closed with a verified archive, `kind delete cluster`,
// engine down, nothing left on the host. Root on Linux only; takes the one-real-node-per-machine lock (both change the network).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { realNodeUnsupportedReason } from '../../hack/cluster/real-node.ts';
import { acquireRealNodeLock, REAL_NODE_LOCK } from '../../hack/cluster/real-node-lock.ts';
import {
  ENGINE_RUN_DIR,
  engineBridges,
  engineCgroups,
  engineDataRoot,
  startOfflineEngine,
} from '../../hack/kind/engine.ts';
import {
  COREFILE,
  kindDownOffline,
  kindUpOffline,
  NODE_CONTAINER,
  type OfflineKind,
  OPERATOR_NAMESPACE,
  OPERATOR_RELEASE,
  releaseKindLock,
} from '../../hack/kind/offline.ts';
import { reapStaleHolder } from '../../hack/kind/reap-stale.ts';
import { PORTS } from '../../src/controllers/incidentchannel/desired/ports.ts';
import { participantSecretName } from '../../src/controllers/incidentchannel/desired/secret-names.ts';
import { participantPasswordKey } from '../../src/crypto/secret-material.ts';
import type { RecorderStatus } from '../../src/recorder/recorder.ts';
import {
  assertPoliciesBeforePods,
  type IsolationContext,
  type IsolationDriver,
  isolationTests,
  listenerScript,
  PROBE,
  startListenerPod,
} from '../support/isolation-matrix.ts';
import { eventually, kubectlClient } from '../support/kubectl.ts';
import { type SdkUser, startSdkUser } from '../support/matrix-sdk-client.ts';
import {
  type Channel,
  conditionOf,
  EVIDENCE_MOUNT,
  fullExampleChannel,
  uniqueChannelName,
} from '../support/real-node-warroom.ts';
import { assertVerifiedTranscript } from '../support/verified-transcript.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MINIMAL = join(ROOT, 'examples/minimal.yaml');
const unsupported = realNodeUnsupportedReason();
const log = (m: string) => process.stderr.write(`[kind-e2e] ${m}\n`);

/** The host's firewall rules without counters: kind and its engine must leave them exactly as they were. */
async function hostRules(): Promise<string> {
  const lines: string[] = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    const out = await run(tool, []).then(
      (r) => r.stdout,
      () => '',
    );
    lines.push(
      ...out
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.replace(/\[\d+:\d+\]/g, '')),
    );
  }
  return lines.join('\n');
}

/** Processes of the engine or its containers still on the host (they all name its run dir or the kind node). */
async function engineProcesses(): Promise<string[]> {
  const left: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (cmdline.includes(ENGINE_RUN_DIR) || /\bdocker-proxy\b/.test(cmdline) || cmdline.includes(NODE_CONTAINER)) {
      left.push(`${entry} ${cmdline.slice(0, 160)}`);
    }
  }
  return left;
}

/** `kubectl port-forward` to a Service, on free loopback ports; returns the local port of each remote one. */
async function portForward(k: OfflineKind, namespace: string, service: string, ports: number[]) {
  const child: ChildProcess = spawn(
    k.bin.kubectl,
    [
      '--kubeconfig',
      k.kubeconfig,
      '-n',
      namespace,
      'port-forward',
      '--address',
      '127.0.0.1',
      `svc/${service}`,
      ...ports.map((p) => `:${p}`),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const local = new Map<number, number>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('kubectl port-forward did not start in 30 s')), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)) {
        local.set(Number(m[2]), Number(m[1]));
      }
      if (local.size === ports.length) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}`)));
  });
  return { local, stop: () => child.kill('SIGTERM') };
}

/** The node's own network namespace, for the isolation matrix: a hostNetwork pod (kind's node is a container). */
const NODE_PROBE = { namespace: 'iso-node', pod: 'node-probe', listenPort: 17070 };

/**
 * kind's side of the isolation matrix. The node is a container: the matrix's baseline probes, its node listener and
 * its TURN client run in a hostNetwork pod (the node's network namespace, which kube-router lets through as it lets
 * the real node's host through), and kube-router's rules are read with `docker exec` in the node.
 */
async function kindIsolationDriver(k: OfflineKind): Promise<IsolationDriver> {
  const kc = kubectlClient(k.kubectl);
  const { namespace, pod, listenPort } = NODE_PROBE;
  // hostNetwork needs the privileged Pod Security level: this namespace says so, for these two containers only.
  await kc.apply({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
  });
  const hardened = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
  await kc.apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod, namespace, labels: { 'warroom-test': 'isolation-probe' } },
    spec: {
      hostNetwork: true,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image: k.images.synapse.ref,
          imagePullPolicy: 'Never',
          command: ['python', '-c', listenerScript(listenPort)],
          securityContext: { ...hardened, runAsUser: 991, runAsGroup: 991 },
        },
        {
          // Debian's coturn package carries turnutils_uclient.
          name: 'turn',
          image: k.images.coturn.ref,
          imagePullPolicy: 'Never',
          command: ['sleep', 'infinity'],
          securityContext: { ...hardened, runAsUser: 65534, runAsGroup: 65534 },
        },
      ],
    },
  });
  await kc.exec(['-n', namespace, 'wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=120s']);
  const node = await kc.getJson<{ status: { podIP: string } }>(['-n', namespace, 'pod', pod]);
  const nodeIp = node?.status.podIP ?? '';
  assert.ok(nodeIp, 'the node probe has the node address');
  const dns = await kc.getJson<{ spec: { clusterIP: string } }>(['-n', 'kube-system', 'service', 'kube-dns']);
  const slices = await kc.getJson<{ items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[] }>([
    '-n',
    'default',
    'endpointslices',
    '-l',
    'kubernetes.io/service-name=kubernetes',
  ]);
  const apiHost = slices?.items[0]?.endpoints[0]?.addresses[0] ?? '';
  const apiPort = slices?.items[0]?.ports[0]?.port ?? 0;
  assert.equal(apiHost, nodeIp, "the apiserver's endpoint is the node");
  const inNode = ['-n', namespace, 'exec', pod];
  const listenerLog = () => kc.exec(['-n', namespace, 'logs', pod, '-c', 'probe']);
  let logOffset = 0;
  return {
    k: kc,
    probeImage: k.images.synapse.ref,
    operatorNamespace: OPERATOR_NAMESPACE,
    operatorDeployment: OPERATOR_RELEASE,
    clusterDnsIp: dns?.spec.clusterIP ?? '',
    apiServer: { host: apiHost, port: apiPort, label: `apiserver (node) :${apiPort}` },
    nodeListener: {
      host: nodeIp,
      port: listenPort,
      peers: async () =>
        [...(await listenerLog()).slice(logOffset).matchAll(/^accepted (\S+)$/gm)].map((m) => m[1] ?? ''),
      reset: async () => {
        logOffset = (await listenerLog()).length;
      },
    },
    probeFromNode: (targetsJson) => kc.exec([...inNode, '-c', 'probe', '--', 'python', '-c', PROBE, targetsJson]),
    nodeNetExec: (argv) => k.docker(['exec', NODE_CONTAINER, ...argv]),
    // A refused permission makes uclient exit non-zero: the shell keeps its output and says how it ended.
    turnClient: (args) =>
      kc.exec([
        ...inNode,
        '-c',
        'turn',
        '--',
        'sh',
        '-c',
        'turnutils_uclient "$@" 2>&1; echo "exit $?"',
        'sh',
        ...args,
      ]),
  };
}

describe('the war room on kind, offline', { skip: unsupported ? `skipped: ${unsupported}` : false }, () => {
  let k: OfflineKind;
  let work: string;
  let rulesBefore = '';
  const name = (parse(readFileSync(MINIMAL, 'utf8')) as { metadata: { name: string } }).metadata.name;
  let namespace = '';
  const users: SdkUser[] = [];
  const forwards: { stop(): void }[] = [];
  const sent = new Map<string, string>();
  const figures: Record<string, number> = {};
  let down = false;
  const nameB = uniqueChannelName('iso-b');
  const iso: Partial<IsolationContext> & Pick<IsolationContext, 'ns' | 'figures'> = { ns: { A: '', B: '' }, figures };

  const channel = async () => {
    const out = await k.kubectl(['get', 'incidentchannel', name, '-o', 'json']).catch(() => '');
    return out ? (JSON.parse(out) as Channel) : undefined;
  };
  const waitForChannel = async (what: string, ok: (c: Channel) => boolean, timeoutMs: number) =>
    eventually(
      `channel ${name}: ${what}`,
      async () => {
        const c = await channel();
        return c && ok(c) ? c : undefined;
      },
      timeoutMs,
    );

  before(
    async () => {
      work = await mkdtemp(join(tmpdir(), 'warroom-kind-e2e-'));
      const t0 = performance.now();
      // The rules are read once the lock is held: a real-node run before it may still have had its own.
      k = await kindUpOffline({
        log,
        // In `npm test` the real-node, war-room and isolation files queue for the lock too: one CI run's kind waited
        // 386 s for their turns, and in the worst order it waits for all of them, past kind:up's 10 min default.
        lockWaitMs: 30 * 60_000,
        onLocked: async () => {
          rulesBefore = await hostRules();
        },
      });
      figures['kind:up (engine, node image, cluster, sealed-secrets, chart)'] = Number(
        ((performance.now() - t0) / 1000).toFixed(1),
      );
      log(`set-up (s): ${JSON.stringify(k.timings)}`);
    },
    { timeout: 75 * 60_000 },
  );

  after(async () => {
    for (const u of users) await u.stop().catch(() => {});
    for (const f of forwards) f.stop();
    if (!down) await kindDownOffline(log).catch((e: Error) => log(`kind:down: ${e.message}`));
    await releaseKindLock();
    if (work) await rm(work, { recursive: true, force: true });
    log(`figures (s): ${JSON.stringify(figures)}`);
  });

  test('the offline cluster: our node image, no kindnet, CoreDNS without a forwarder, kube-router, the lock', async () => {
    const image = (await k.docker(['inspect', '--format', '{{.Config.Image}}', NODE_CONTAINER])).trim();
    assert.equal(image, k.nodeImage);
    const pods = JSON.parse(await k.kubectl(['get', 'pods', '-A', '-o', 'json'])) as {
      items: { metadata: { name: string; namespace: string } }[];
    };
    assert.ok(!pods.items.some((p) => p.metadata.name.startsWith('kindnet')), 'no kindnet');
    const corefile = await k.kubectl(['-n', 'kube-system', 'get', 'cm', 'coredns', '-o', 'jsonpath={.data.Corefile}']);
    assert.equal(corefile.trim(), COREFILE.trim());
    assert.doesNotMatch(corefile, /forward/);
    const ds = JSON.parse(await k.kubectl(['-n', 'kube-system', 'get', 'ds', 'kube-router', '-o', 'json'])) as {
      status: { numberReady: number };
    };
    assert.equal(ds.status.numberReady, 1, 'kube-router runs on the node');
    const lock = JSON.parse(await readFile(REAL_NODE_LOCK, 'utf8')) as { pid: number; dir: string };
    assert.equal(lock.dir, ENGINE_RUN_DIR, 'kind holds the one-real-node-per-machine lock');
    assert.equal(lock.pid, k.engine.pid, 'held by dockerd, which outlives kind:up');
    // Host ports are on loopback only.
    const ports = await k.docker(['port', NODE_CONTAINER]);
    for (const line of ports.split('\n').filter((l) => l.includes('->') && !l.includes('6443'))) {
      assert.match(line, /-> 127\.0\.0\.1:/, line);
    }
  });

  test('examples/minimal.yaml → Ready', async () => {
    const applied = performance.now();
    await k.kubectl(['apply', '-f', MINIMAL]);
    const ready = await waitForChannel('Ready', (c) => c.status?.phase === 'Ready', 600_000);
    figures['apply → Ready'] = Number(((performance.now() - applied) / 1000).toFixed(1));
    namespace = ready.status?.namespace ?? '';
    assert.ok(namespace);
    for (const type of ['SynapseReady', 'UsersProvisioned', 'TurnReady', 'ElementReady', 'SecretsSealed']) {
      assert.equal(conditionOf(ready, type)?.status, 'True', `${type}: ${conditionOf(ready, type)?.message}`);
    }
  });

  test('a participant logs in through kubectl port-forward and sends an E2EE message the recorder keeps', async () => {
    assert.ok(namespace, 'the channel came up');
    const fwd = await portForward(k, namespace, 'synapse', [PORTS.synapseClient, PORTS.recorder]);
    forwards.push(fwd);
    const url = `http://127.0.0.1:${fwd.local.get(PORTS.synapseClient)}`;
    const recorderStatus = async () => {
      const res = await fetch(`http://127.0.0.1:${fwd.local.get(PORTS.recorder)}/status`, {
        signal: AbortSignal.timeout(5000),
      });
      assert.ok(res.ok, `recorder /status: HTTP ${res.status}`);
      return (await res.json()) as RecorderStatus;
    };
    const password = async (handle: string) => {
      const secret = JSON.parse(
        await k.kubectl(['-n', namespace, 'get', 'secret', participantSecretName(handle), '-o', 'json']),
      ) as { data: Record<string, string> };
      return Buffer.from(secret.data[participantPasswordKey(handle)] ?? '', 'base64').toString('utf8');
    };
    const falcon = await startSdkUser(url, 'falcon', await password('falcon'));
    users.push(falcon);
    const heron = await startSdkUser(url, 'heron', await password('heron'));
    users.push(heron);
    const server = falcon.userId.slice(falcon.userId.indexOf(':') + 1);
    const res = await fetch(`${url}/_matrix/client/v3/directory/room/${encodeURIComponent(`#ops:${server}`)}`, {
      headers: { authorization: `Bearer ${falcon.accessToken}` },
    });
    assert.ok(res.ok, `#ops resolves: HTTP ${res.status}`);
    const ops = ((await res.json()) as { room_id: string }).room_id;
    for (const u of [falcon, heron]) {
      await u.waitForMembership(ops, 'invite', 60_000);
      await u.joinRoom(ops);
    }
    await eventually('#ops is encrypted for falcon', () => falcon.isEncryptionEnabled(ops), 20_000);

    const before = (await recorderStatus()).events;
    const t0 = performance.now();
    const body = 'kind: the jump host is off the network';
    sent.set(await falcon.sendText(ops, body), body);
    const seen = await heron.waitForDecryptedMessage(ops, body, 60_000);
    assert.equal(seen.wireType, 'm.room.encrypted', 'it crossed the wire encrypted');
    await eventually('the recorder holds the message', async () => (await recorderStatus()).events > before, 60_000);
    figures['message → recorded'] = Number(((performance.now() - t0) / 1000).toFixed(1));
  });

  test("NetworkPolicies are enforced: a pod outside the war room cannot reach its Synapse; DNS is the cluster's only", async () => {
    assert.ok(namespace, 'the channel came up');
    const pod = JSON.parse(await k.kubectl(['-n', namespace, 'get', 'pod', 'synapse-0', '-o', 'json'])) as {
      status: { podIP: string };
    };
    // A probe from the storage helper image (Debian: bash's /dev/tcp, coreutils' timeout) in `default`.
    const helper = (
      await k.kubectl([
        '-n',
        'local-path-storage',
        'get',
        'cm',
        'local-path-config',
        '-o',
        'jsonpath={.data.helperPod\\.yaml}',
      ])
    ).match(/image:\s*(\S+)/)?.[1];
    assert.ok(helper);
    // Run to completion, then read its log: `kubectl run -i --rm` attaches after the container starts and loses what
    // a short script printed before that (CI saw a probe print nothing).
    const probe = async (script: string) => {
      const probeName = `probe-${Date.now()}`;
      await k.kubectl([
        '-n',
        'default',
        'run',
        probeName,
        '--restart=Never',
        `--image=${helper}`,
        '--image-pull-policy=Never',
        '--command',
        '--',
        'bash',
        '-c',
        script,
      ]);
      try {
        await eventually(
          `probe ${probeName} finished`,
          async () => {
            const phase = await k
              .kubectl(['-n', 'default', 'get', 'pod', probeName, '-o', 'jsonpath={.status.phase}'])
              .then((p) => p.trim());
            return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
          },
          120_000,
        );
        return await k.kubectl(['-n', 'default', 'logs', probeName]);
      } finally {
        await k.kubectl(['-n', 'default', 'delete', 'pod', probeName, '--wait=false']).catch(() => '');
      }
    };
    const kubernetes = await probe('timeout 5 bash -c "</dev/tcp/10.96.0.1/443" && echo reached');
    assert.match(kubernetes, /reached/, 'the probe itself works (the apiserver Service, no policy in default)');
    const synapse = await probe(
      `timeout 5 bash -c "</dev/tcp/${pod.status.podIP}/${PORTS.synapseClient}" && echo reached || echo blocked`,
    );
    assert.match(synapse, /blocked/, "the war room's default-deny keeps the probe out");
    const dns = await probe(
      'getent hosts kubernetes.default.svc.cluster.local; getent hosts example.org || echo NXDOMAIN',
    );
    assert.match(dns, /10\.96\.0\.1/, 'cluster names resolve');
    assert.match(dns, /NXDOMAIN/, 'nothing outside the cluster does: CoreDNS has no forwarder');
  });

  test('nothing leaves the machine: the egress guard rejects, and no connection went to an outside address', async () => {
    const counter = async (n: string) => {
      const out = await k.docker(['exec', NODE_CONTAINER, 'nft', 'list', 'counter', 'inet', 'warroom_egress_guard', n]);
      const m = /packets (\d+) bytes (\d+)/.exec(out);
      assert.ok(m, `counter ${n}: ${out}`);
      return Number(m[1]);
    };
    const rejected = { output: await counter('rejected_output'), forward: await counter('rejected_forward') };
    log(`egress guard rejected (packets): ${JSON.stringify(rejected)}`);
    figures['guard rejected (output+forward packets)'] = rejected.output + rejected.forward;
    // kind's entrypoint resolves host.docker.internal through docker's embedded DNS, which forwards to the machine's
    // resolver from the node's namespace, and CoreDNS forwards until kind:up drops `forward`: the guard rejected those.
    assert.ok(rejected.output > 0, "the guard rejected the node's own attempts to reach the outside");
    const table = await k.docker(['exec', NODE_CONTAINER, 'nft', 'list', 'table', 'inet', 'warroom_egress_guard']);
    assert.match(table, /hook output/);
    assert.match(table, /hook forward/);
    // Every connection the node's kernel tracked went to loopback, the pod/service ranges or the node's own network.
    const subnet = (
      await k.docker(['network', 'inspect', 'kind', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{end}}'])
    )
      .split(/\s+/)
      .find((s) => s.includes('.'));
    assert.ok(subnet);
    const prefix = subnet.split('.').slice(0, 2).join('.');
    const tracked = await k.docker(['exec', NODE_CONTAINER, 'conntrack', '-L', '-o', 'extended']);
    assert.match(tracked, /dst=10\.96\.0\.1 /, 'the connection table is read (pods talk to the apiserver Service)');
    const outside = tracked
      .split('\n')
      .map((l) => /dst=(\d+\.\d+\.\d+\.\d+)/.exec(l)?.[1])
      .filter((d): d is string => !!d)
      .filter(
        (d) =>
          !d.startsWith('127.') && !d.startsWith('10.244.') && !d.startsWith('10.96.') && !d.startsWith(`${prefix}.`),
      );
    assert.deepEqual(outside, [], 'no tracked connection to an address outside the machine');
  });

  test('B (examples/full.yaml: Postgres, Ingress, calls, SFU) becomes Ready beside A; policies exist before any workload pod', async () => {
    assert.ok(namespace, 'A came up');
    iso.ns.A = namespace;
    iso.driver = await kindIsolationDriver(k);
    iso.listenerPod = await startListenerPod(iso.driver);
    const applied = performance.now();
    await iso.driver.k.apply(fullExampleChannel(nameB, k.images));
    const ready = await eventually(
      `channel ${nameB}: Ready`,
      async () => {
        const c = await iso.driver?.k.getJson<Channel>(['incidentchannel', nameB]);
        return c?.status?.phase === 'Ready' ? c : undefined;
      },
      600_000,
    );
    figures['B apply → Ready'] = Number(((performance.now() - applied) / 1000).toFixed(1));
    iso.ns.B = ready.status?.namespace ?? '';
    assert.ok(iso.ns.B);
    for (const room of ['A', 'B'] as const) await assertPoliciesBeforePods(iso.driver.k, room, iso.ns[room]);
  });

  // The real node's isolation matrix, the same code (test/support/isolation-matrix.ts), on kind.
  isolationTests(() => {
    const { driver, listenerPod, ns } = iso;
    if (!driver || !listenerPod) throw new Error('the isolation probes are not set up');
    return { driver, listenerPod, ns, figures };
  });

  test('close → Closed with a verified archive, namespace gone; warroom verify accepts it', async () => {
    assert.ok(namespace, 'the channel came up');
    for (const u of users.splice(0)) await u.stop();
    for (const f of forwards.splice(0)) f.stop();
    const closing = performance.now();
    await k.kubectl(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
    await eventually(
      'the namespace is gone',
      async () => !(await k.kubectl(['get', 'namespace', namespace, '-o', 'name']).catch(() => '')),
      300_000,
    );
    figures['close → namespace gone'] = Number(((performance.now() - closing) / 1000).toFixed(1));
    const closed = await waitForChannel('Closed', (c) => c.status?.phase === 'Closed', 60_000);
    assert.equal(
      conditionOf(closed, 'EvidenceArchived')?.status,
      'True',
      conditionOf(closed, 'EvidenceArchived')?.message,
    );
    const location = closed.status?.archive?.location ?? '';
    assert.ok(location.startsWith(`${EVIDENCE_MOUNT}/`), location);

    // The archive and the signing key, copied out of the operator's volume (a local-path PV inside the node).
    const claim = JSON.parse(
      await k.kubectl(['-n', OPERATOR_NAMESPACE, 'get', 'pvc', `${OPERATOR_RELEASE}-evidence`, '-o', 'json']),
    ) as { spec: { volumeName: string } };
    const pv = JSON.parse(await k.kubectl(['get', 'pv', claim.spec.volumeName, '-o', 'json'])) as {
      spec: { local?: { path: string }; hostPath?: { path: string } };
    };
    const dir = pv.spec.hostPath?.path ?? pv.spec.local?.path;
    assert.ok(dir, 'the evidence PV has a path on the node');
    const archive = join(work, 'archive.tar');
    await k.docker(['cp', `${NODE_CONTAINER}:${join(dir, location.slice(EVIDENCE_MOUNT.length))}`, archive]);
    await k.docker(['cp', `${NODE_CONTAINER}:${join(dir, 'signing-key.pem')}`, join(work, 'signing-key.pem')]);
    await assertVerifiedTranscript({ archive, signingKey: join(work, 'signing-key.pem'), work, sent });
  });

  test('kind delete cluster, engine down: no container, network, link, cgroup, process or firewall rule left', async () => {
    const t0 = performance.now();
    // The lock stays held until the host is checked: a real-node run waiting for it would add its own rules.
    await kindDownOffline(log, { keepLock: true });
    down = true;
    figures['kind:down'] = Number(((performance.now() - t0) / 1000).toFixed(1));
    try {
      assert.deepEqual(await engineBridges(), [], 'no br-* link (the kind network) is left');
      assert.deepEqual(await engineCgroups(), [], 'no cgroup of the engine is left');
      assert.deepEqual(
        await engineProcesses(),
        [],
        'no dockerd, containerd, shim, docker-proxy or node process is left',
      );
      assert.equal(existsSync(ENGINE_RUN_DIR), false, 'the engine run dir is gone');
      assert.equal(await hostRules(), rulesBefore, "the host's iptables rules are exactly as before");
    } finally {
      // Now in this process's name: kept after a failed check, the next test would wait on itself for the lock.
      await releaseKindLock();
    }
    const lock = await readFile(REAL_NODE_LOCK, 'utf8').catch(() => '');
    assert.ok(!lock.includes(ENGINE_RUN_DIR), 'the lock is released');
  });

  test("an engine killed while holding the lock: the real node's clean-up stops what it left and removes the rest", {
    timeout: 20 * 60_000,
  }, async () => {
    // As kind:up leaves it: the engine, a container on a network of its own with a published port (a docker-proxy),
    // its shims and containerd. Then dockerd is SIGKILLed. The lock stays with this process throughout (a waiting
    // real-node run would otherwise reap the dead holder itself, and add its own rules before the host is checked);
    // the dead holder is handed to the clean-up a real node runs on finding one (prepareRealNode's reapStale).
    down = false; // until the end: after() stops an engine this test leaves running
    const engine = await startOfflineEngine(log);
    assert.ok(engine.pid);
    const lock = await acquireRealNodeLock(
      { pid: process.pid, dir: ENGINE_RUN_DIR, startedAt: new Date().toISOString() },
      { waitMs: 15 * 60_000, reapStale: (h) => reapStaleHolder(h, log, 'kind'), log },
    );
    try {
      const docker = (args: string[]) =>
        run('docker', args, { env: engine.env, timeout: 120_000 }).then((r) => r.stdout.trim());
      await docker(['network', 'create', 'warroom-stale-test']);
      // The node image is in the engine's data root; `sleep` keeps a container up without booting its systemd.
      await docker([
        'run',
        '-d',
        '--name',
        'warroom-stale-test',
        '--network',
        'warroom-stale-test',
        '-p',
        '127.0.0.1::8080',
        '--entrypoint',
        'sleep',
        k.nodeImage,
        'infinity',
      ]);
      assert.ok((await engineCgroups()).length > 0, 'the container runs under the engine cgroup parent');
      assert.ok((await engineBridges()).length > 0, 'the network has its br-* link');
      process.kill(engine.pid, 'SIGKILL');
      await eventually('dockerd gone', async () => (existsSync(`/proc/${engine.pid}`) ? undefined : true), 30_000);
      assert.ok((await engineProcesses()).length > 0, 'its shim, container and docker-proxy outlive it');

      const said: string[] = [];
      const dead = { pid: engine.pid, dir: ENGINE_RUN_DIR, startedAt: new Date().toISOString() };
      await reapStaleHolder(dead, (m) => said.push(m), 'real-node');
      assert.match(said.join('\n'), /kind's engine \(dockerd pid \d+\) died holding the lock/);
      assert.deepEqual(await engineProcesses(), [], 'no containerd, shim, container or docker-proxy is left');
      assert.deepEqual(await engineCgroups(), [], 'no cgroup of the engine is left');
      assert.deepEqual(await engineBridges(), [], 'no br-* link is left');
      const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m.startsWith(`${ENGINE_RUN_DIR}/`) || m.startsWith(`${engineDataRoot()}/`));
      assert.deepEqual(mounts, [], 'no mount of the engine is left');
      assert.equal(existsSync(ENGINE_RUN_DIR), false, 'the engine run dir is gone');
      assert.equal(await hostRules(), rulesBefore, "the host's iptables rules are exactly as before");
      down = true;
    } finally {
      await lock.release();
    }
  });
});
