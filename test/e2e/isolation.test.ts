// ISOLATION, ENFORCED AND ATTACKED, on the real node (kubelet + containerd, NetworkPolicies enforced by kube-router,
// a test peer). Two war rooms: A from examples/minimal.yaml (SQLite, calls on by default), B from examples/full.yaml
// (Postgres, Ingress, calls on). Probe pods where an attacker could stand: an unrelated namespace, the ingress
// controller's namespace, the monitoring namespace, the operator's namespace, and inside A: a pod wearing Element's
// label (a compromised Element), one wearing coturn's, one wearing the provisioner's. Synapse itself is probed from
// inside its own container. Each tries every port of every war-room Service and pod IP, cluster DNS, the apiserver
// (the `kubernetes` Service and the node's forwarder) and two listeners the test owns (a pod, the node's bridge
// address), and the outcome must be EXACTLY the allow-list of the design (architecture §"NetworkPolicies before any
// workload"), no more, no less. The matrix is printed (and copied into the README).
// Every probe targets an address the harness created (pod IPs, ClusterIPs, the bridge): nothing else.
// Root on Linux only; one real node per machine (the harness waits for the lock).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { realNodeUnsupportedReason } from '../../hack/cluster/real-node.ts';
import { SECRET_NAMES } from '../../src/controllers/incidentchannel/desired/secret-names.ts';
import { SECRET_KEYS } from '../../src/crypto/secret-material.ts';
import { turnRestCredentials } from '../support/coturn-peer.ts';
import { eventually } from '../support/kubectl.ts';
import {
  type Channel,
  OPERATOR_NAMESPACE,
  startWarRoomEnv,
  uniqueChannelName,
  type WarRoomEnv,
} from '../support/real-node-warroom.ts';

const run = promisify(execFile);
const unsupported = realNodeUnsupportedReason();
const PROBE = readFileSync(new URL('../support/isolation-probe.py', import.meta.url), 'utf8');
/** What every probe pod runs: a TCP listener on LISTEN_PORT logging each peer (the "does anything reach me" witness). */
const LISTEN_PORT = 7070;
const LISTENER = [
  'import socket, sys',
  's = socket.socket()',
  's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  `s.bind(("0.0.0.0", ${LISTEN_PORT}))`,
  's.listen(64)',
  'while True:',
  '    c, a = s.accept()',
  '    print("accepted", a[0], flush=True)',
  '    c.close()',
].join('\n');
/** A probe that, as its FIRST action, tries the listener pod, then becomes a listener (see "enforced before"). */
const FIRST_ATTEMPT = (host: string) =>
  [
    'import socket',
    'try:',
    `    socket.create_connection(("${host}", ${LISTEN_PORT}), timeout=3).close()`,
    '    print("first attempt: reached", flush=True)',
    'except Exception as e:',
    '    print("first attempt: blocked", type(e).__name__, flush=True)',
    LISTENER,
  ].join('\n');

type Proto = 'tcp' | 'stun' | 'dns';
interface Target {
  id: string;
  /** What the matrix prints: `A synapse pod :8008`. */
  label: string;
  host: string;
  port: number;
  proto: Proto;
  /** For the allow-list: which war room and component it belongs to, or an infrastructure target. */
  room?: 'A' | 'B';
  component?: 'synapse' | 'element' | 'coturn' | 'postgres';
  infra?: 'dns' | 'apiserver' | 'listener-pod' | 'listener-node';
}
type SourceName =
  | 'unrelated'
  | 'ingress-nginx'
  | 'monitoring'
  | 'operator-ns'
  | 'A/element (compromised)'
  | 'A/coturn'
  | 'A/provisioner'
  | 'A/synapse'
  | 'B/synapse';
interface Source {
  name: SourceName;
  namespace: string;
  pod: string;
  container?: string;
  /** The source's own pod IP: its own addresses are not a network path and are left out. */
  ip: string;
}
interface Row {
  source: SourceName;
  target: Target;
  expected: 'reached' | 'blocked';
  observed: string;
}

const PROBE_NAMESPACES = { unrelated: 'iso-unrelated', ingress: 'ingress-nginx', monitoring: 'monitoring' } as const;

/**
 * The design's allow-list (architecture.md, "NetworkPolicies before any workload"), written independently of the
 * policy builder: the test fails if the builder and the design disagree.
 */
function allowed(source: SourceName, t: Target): boolean {
  const free = ['unrelated', 'ingress-nginx', 'monitoring', 'operator-ns'].includes(source);
  // Egress of the source: namespaces without policies send anywhere; war-room pods only what their policy lists.
  const egress = (): boolean => {
    if (free) return true;
    switch (source) {
      case 'A/element (compromised)':
      case 'A/synapse': // SQLite: no egress at all, not even DNS
        return false;
      case 'A/coturn': // DNS, then the internet only: no private, cluster or node address
        return t.infra === 'dns';
      case 'A/provisioner':
        return t.infra === 'dns' || (t.room === 'A' && t.component === 'synapse' && t.port === 8008);
      case 'B/synapse': // Postgres: DNS and its own database
        return t.infra === 'dns' || (t.room === 'B' && t.component === 'postgres');
    }
    return false;
  };
  // Ingress of the target: war-room pods accept only their allow-list; infrastructure targets have no policy.
  const ingress = (): boolean => {
    if (!t.room) return true;
    switch (t.component) {
      case 'coturn': // TURN from anywhere (the internet's clients), on the TURN ports
        return true;
      case 'element':
        return source === 'ingress-nginx';
      case 'postgres':
        return source === `${t.room}/synapse`;
      case 'synapse':
        if (source === 'ingress-nginx') return t.port === 8008;
        if (source === 'monitoring') return t.port === 9000 || t.port === 9101;
        if (source === 'operator-ns') return t.port === 9101 || t.port === 9102;
        if (source === 'A/provisioner') return t.room === 'A' && t.port === 8008;
        return false;
    }
    return false;
  };
  return egress() && ingress();
}

describe('war-room isolation on a real node, as an attacker would try it', {
  skip: unsupported ? `skipped: ${unsupported}` : false,
}, () => {
  let env: WarRoomEnv;
  const nameA = uniqueChannelName('iso-a');
  const nameB = uniqueChannelName('iso-b');
  const ns = { A: '', B: '' };
  const sources: Source[] = [];
  const targets: Target[] = [];
  let nodeListener: Server;
  const nodeListenerPeers: string[] = [];
  let listenerPod = { ip: '', namespace: PROBE_NAMESPACES.unrelated, pod: 'probe' };
  const figures: Record<string, number> = {};

  before(
    async () => {
      env = await startWarRoomEnv();
      console.log(`set-up (s): ${JSON.stringify(env.timings)}`);
      // The probe namespaces first, so a probe pod exists before the war rooms (the "enforced before" check).
      for (const name of Object.values(PROBE_NAMESPACES)) {
        await env.k.apply({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
        });
      }
      await env.k.apply(probePod(env, PROBE_NAMESPACES.unrelated, 'probe', {}, LISTENER));
      await waitPod(env, PROBE_NAMESPACES.unrelated, 'probe');
      listenerPod = { ...listenerPod, ip: await podIp(env, PROBE_NAMESPACES.unrelated, 'probe') };
      const info = env.cluster.realNode;
      if (!info) throw new Error('no real node');
      assert.equal(info.networkPolicies, true, 'the real node enforces NetworkPolicies');
      nodeListener = createServer((s) => {
        nodeListenerPeers.push(s.remoteAddress ?? '?');
        s.destroy();
      });
      await new Promise<void>((r) => nodeListener.listen(0, info.nodeIp, r));
    },
    { timeout: 40 * 60_000 },
  );

  after(async () => {
    nodeListener?.close();
    await env?.stop();
    console.log(`figures (s): ${JSON.stringify(figures)}`);
  });

  test('A (examples/minimal.yaml) and B (examples/full.yaml, calls on) become Ready; policies exist before any workload pod', async () => {
    const t0 = performance.now();
    await env.k.apply(env.channelManifest(nameA));
    await env.k.apply(env.fullChannelManifest(nameB));
    for (const [room, name] of [
      ['A', nameA],
      ['B', nameB],
    ] as const) {
      const ready = await env.waitForChannel(
        name,
        'Ready',
        (c: Channel) => (c.status?.phase === 'Ready' ? c : undefined),
        900_000,
      );
      ns[room] = ready.status?.namespace ?? '';
      assert.ok(ns[room]);
      figures[`${room} apply → Ready`] = Number(((performance.now() - t0) / 1000).toFixed(1));
    }
    // The operator's order, as the apiserver recorded it: every NetworkPolicy is created no later than the
    // namespace's first pod (creationTimestamp has a one-second resolution, hence ≤).
    for (const room of ['A', 'B'] as const) {
      const policies = await env.k.getJson<{ items: { metadata: { name: string; creationTimestamp: string } }[] }>([
        '-n',
        ns[room],
        'networkpolicies',
      ]);
      const pods = await env.k.getJson<{ items: { metadata: { name: string; creationTimestamp: string } }[] }>([
        '-n',
        ns[room],
        'pods',
      ]);
      const lastPolicy = Math.max(...(policies?.items ?? []).map((p) => Date.parse(p.metadata.creationTimestamp)));
      const firstPod = Math.min(...(pods?.items ?? []).map((p) => Date.parse(p.metadata.creationTimestamp)));
      assert.ok((policies?.items.length ?? 0) >= 7, `${room} has its policies`);
      assert.ok(
        lastPolicy <= firstPod,
        `${room}: the last policy (${lastPolicy}) is not after the first pod (${firstPod})`,
      );
    }
  });

  // KNOWN GAP of the test peer, measured: kube-router v2.1.0 writes a pod's firewall chain only when its sync sees the
  // pod's IP, so a new pod's very first packets pass (this pod's first connection reached the listener). The policies
  // themselves exist before the first pod (previous test); CNIs that program a pod's policy before its network is up
  // close this window. Kept running (todo) so the gap stays visible.
  test('a new pod under the war room’s policies is enforced from its first packet (its first connection fails)', {
    todo: 'kube-router v2.1.0 lets a new pod’s first packets through until its next sync',
  }, async () => {
    assert.ok(ns.A, 'A is up');
    // The compromised-Element stand-in: Element's label, PSA restricted (A's namespace enforces it), and as its very
    // first action it tries the listener pod in the unrelated namespace.
    await env.k.apply(
      probePod(
        env,
        ns.A,
        'compromised-element',
        { 'app.kubernetes.io/component': 'element' },
        FIRST_ATTEMPT(listenerPod.ip),
      ),
    );
    await waitPod(env, ns.A, 'compromised-element');
    const log = await eventually(
      'the first attempt is logged',
      async () => {
        const l = await env.k.exec(['-n', ns.A, 'logs', 'compromised-element']);
        return /first attempt:/.test(l) ? l : undefined;
      },
      30_000,
    );
    const ip = await podIp(env, ns.A, 'compromised-element');
    console.log(`compromised Element's first connection: ${log.split('\n')[0]}`);
    assert.match(log, /first attempt: blocked/);
    assert.doesNotMatch(await listenerLog(env, listenerPod), new RegExp(`accepted ${ip.replaceAll('.', '\\.')}$`, 'm'));
  });

  test('every source → every war-room port: exactly the allow-list (the matrix)', async () => {
    assert.ok(ns.A && ns.B, 'both war rooms are up');
    await collectTargets();
    await startSources();
    // Baseline from the node itself (kube-router always lets the node through): every target answers, so a
    // "blocked" below is the policy, not a closed port.
    const baseline = await probeFromHost(targets);
    const dead = targets.filter((t) => baseline[t.id] !== 'reached').map((t) => `${t.label} (${baseline[t.id]})`);
    assert.deepEqual(dead, [], 'every target answers from the node');

    // The listeners' witnesses count from here (the compromised pod's first-packet attempt is the previous test's).
    const podLogBefore = (await listenerLog(env, listenerPod)).length;
    nodeListenerPeers.length = 0;
    const rows = await runMatrix();
    printMatrix(rows);
    const wrong = rows.filter((r) => (r.observed === 'reached') !== (r.expected === 'reached'));
    assert.deepEqual(
      wrong.map((r) => `${r.source} → ${r.target.label}: expected ${r.expected}, observed ${r.observed}`),
      [],
    );
    // Nothing from a war-room pod reached the listeners the test owns (the pod's and the node's own log).
    const warRoomIps = sources.filter((s) => s.name.includes('/')).map((s) => s.ip);
    const podLog = (await listenerLog(env, listenerPod)).slice(podLogBefore);
    for (const ip of warRoomIps) {
      assert.doesNotMatch(podLog, new RegExp(`accepted ${ip.replaceAll('.', '\\.')}$`, 'm'));
      assert.ok(!nodeListenerPeers.includes(ip), `${ip} never reached the node's listener`);
    }
    // …while a pod with no policy did, so the witnesses work.
    const unrelated = sources.find((s) => s.name === 'unrelated')?.ip ?? '';
    assert.ok(nodeListenerPeers.includes(unrelated), 'the unrelated pod reached the node listener');
  });

  test('a TURN allocation asking coturn to relay into the cluster is refused by coturn itself (its deny list)', async () => {
    // From the node (TURN is open to anyone), with B's real TURN credentials: coturn answers CreatePermission for a
    // pod IP and a ClusterIP with 403 Forbidden IP. The network is not involved: coturn never sends the packet.
    const secret = await env.k.getJson<{ data: Record<string, string> }>(['-n', ns.B, 'secret', SECRET_NAMES.turn]);
    const shared = Buffer.from(secret?.data[SECRET_KEYS.turnSharedSecret] ?? '', 'base64').toString('utf8');
    assert.ok(shared, 'the TURN shared secret is unsealed');
    const turn = await serviceIp(env, ns.B, 'coturn');
    const synapsePod = await podIpOf(env, ns.A, 'synapse');
    const synapseSvc = await serviceIp(env, ns.A, 'synapse');
    for (const peer of [synapsePod, synapseSvc]) {
      const out = await uclient(turn, shared, peer, 8008);
      assert.match(out, /Received relay addr|relay addr/i, `the allocation itself succeeds:\n${out}`);
      assert.match(out, /403|Forbidden/i, `CreatePermission to ${peer} is refused:\n${out}`);
    }
    // And the allocation is allowed for a peer coturn accepts: only the peer address decides.
  });

  test('coturn’s egress policy alone blocks relaying into the cluster (a coturn-labelled pod with no deny list)', async () => {
    // The A/coturn probe has coturn's label but none of coturn's code: what stops it is the network.
    const coturn = sources.find((s) => s.name === 'A/coturn');
    assert.ok(coturn, 'the coturn stand-in runs');
    const intoCluster = targets.filter((t) => t.room || t.infra === 'listener-pod' || t.infra === 'listener-node');
    const result = await probeFrom(coturn, intoCluster);
    const reached = intoCluster.filter((t) => result[t.id] === 'reached').map((t) => t.label);
    assert.deepEqual(reached, [], 'no pod IP, ClusterIP or node address is reached from coturn’s identity');
    assert.ok(intoCluster.some((t) => t.infra === 'listener-pod'));
  });

  test('the matrix FAILS when a policy is removed (default-deny of A): the test catches it', async () => {
    // The operator would put the policy back at once: stop it first, then restore it by starting it again.
    const deployment = ['-n', OPERATOR_NAMESPACE, 'deployment', 'warroom'];
    await env.k.exec(['scale', ...deployment, '--replicas=0']);
    await eventually(
      'the operator is stopped',
      async () => {
        const pods = await env.k.getJson<{ items: unknown[] }>([
          '-n',
          OPERATOR_NAMESPACE,
          'pods',
          '-l',
          'app.kubernetes.io/name=warroom',
        ]);
        return pods?.items.length === 0;
      },
      60_000,
    );
    try {
      await env.k.exec(['-n', ns.A, 'delete', 'networkpolicy', 'default-deny', '--wait=true']);
      const removedAt = performance.now();
      // Element's egress was denied by default-deny alone (no DNS rule selects it): the compromised pod gets out.
      const element = sources.find((s) => s.name === 'A/element (compromised)');
      const listener = targets.find((t) => t.infra === 'listener-pod');
      assert.ok(element && listener);
      await eventually(
        'kube-router lifts the deny',
        async () => (await probeFrom(element, [listener]))[listener.id] === 'reached',
        30_000,
      );
      figures['policy removed → enforced (s)'] = Number(((performance.now() - removedAt) / 1000).toFixed(2));
      const rows = await runMatrix(['A/element (compromised)']);
      const wrong = rows.filter((r) => (r.observed === 'reached') !== (r.expected === 'reached'));
      console.log(`with A's default-deny removed: ${wrong.length} cells differ from the allow-list, e.g.:`);
      for (const r of wrong.slice(0, 5)) console.log(`  ${r.source} → ${r.target.label}: ${r.observed}`);
      assert.ok(wrong.length > 0, 'the matrix check reports the hole');
    } finally {
      await env.k.exec(['scale', ...deployment, '--replicas=1']);
    }
    await eventually(
      'the operator restores default-deny',
      async () => (await env.k.getJson(['-n', ns.A, 'networkpolicy', 'default-deny'])) !== undefined,
      180_000,
    );
    const wrong = await eventually(
      'kube-router enforces the restored policy',
      async () => {
        const rows = await runMatrix(['A/element (compromised)']);
        const w = rows.filter((r) => (r.observed === 'reached') !== (r.expected === 'reached'));
        return w.length === 0 ? w : undefined;
      },
      30_000,
    );
    assert.deepEqual(wrong, [], 'restored: exactly the allow-list again');
  });

  async function collectTargets(): Promise<void> {
    targets.length = 0;
    const add = (t: Omit<Target, 'id'>) => targets.push({ ...t, id: String(targets.length) });
    for (const room of ['A', 'B'] as const) {
      const ports: Record<string, [number, Proto][]> = {
        synapse: [
          [8008, 'tcp'],
          [9000, 'tcp'],
          [9101, 'tcp'],
          [9102, 'tcp'],
        ],
        element: [[8080, 'tcp']],
        coturn: [
          [3478, 'tcp'],
          [3478, 'stun'],
        ],
        ...(room === 'B' ? { postgres: [[5432, 'tcp']] as [number, Proto][] } : {}),
      };
      for (const [component, list] of Object.entries(ports)) {
        const c = component as NonNullable<Target['component']>;
        const pod = await podIpOf(env, ns[room], c);
        const svc = await serviceIp(env, ns[room], c);
        for (const [port, proto] of list) {
          const p = proto === 'tcp' ? `${port}` : `${port}/udp`;
          add({ label: `${room} ${c} pod :${p}`, host: pod, port, proto, room, component: c });
          add({ label: `${room} ${c} svc :${p}`, host: svc, port, proto, room, component: c });
        }
      }
    }
    const info = env.cluster.realNode;
    assert.ok(info);
    add({ label: 'cluster DNS svc :53/udp', host: info.clusterDnsIp, port: 53, proto: 'dns', infra: 'dns' });
    add({ label: 'kubernetes svc :443', host: '10.96.0.1', port: 443, proto: 'tcp', infra: 'apiserver' });
    const apiPort = Number(new URL(env.cluster.server).port);
    add({
      label: `apiserver forwarder (node) :${apiPort}`,
      host: info.nodeIp,
      port: apiPort,
      proto: 'tcp',
      infra: 'apiserver',
    });
    add({
      label: `test listener pod :${LISTEN_PORT}`,
      host: listenerPod.ip,
      port: LISTEN_PORT,
      proto: 'tcp',
      infra: 'listener-pod',
    });
    const nodePort = (nodeListener.address() as { port: number }).port;
    add({
      label: `test listener on the node :${nodePort}`,
      host: info.nodeIp,
      port: nodePort,
      proto: 'tcp',
      infra: 'listener-node',
    });
  }

  async function startSources(): Promise<void> {
    if (sources.length > 0) return;
    const plain: [SourceName, string][] = [
      ['unrelated', PROBE_NAMESPACES.unrelated],
      ['ingress-nginx', PROBE_NAMESPACES.ingress],
      ['monitoring', PROBE_NAMESPACES.monitoring],
      ['operator-ns', OPERATOR_NAMESPACE],
    ];
    for (const [name, namespace] of plain) {
      if (name !== 'unrelated') await env.k.apply(probePod(env, namespace, 'probe', {}, LISTENER));
    }
    // Inside A: pods wearing a component's label only (not the channel's), so the policies select them and no Service
    // ever sends them traffic.
    const inA: [SourceName, string, string][] = [
      ['A/coturn', 'probe-coturn', 'coturn'],
      ['A/provisioner', 'probe-provisioner', 'provisioner'],
    ];
    for (const [, pod, component] of inA) {
      await env.k.apply(probePod(env, ns.A, pod, { 'app.kubernetes.io/component': component }, LISTENER));
    }
    for (const [name, namespace] of plain) {
      await waitPod(env, namespace, 'probe');
      sources.push({ name, namespace, pod: 'probe', ip: await podIp(env, namespace, 'probe') });
    }
    sources.push({
      name: 'A/element (compromised)',
      namespace: ns.A,
      pod: 'compromised-element',
      ip: await podIp(env, ns.A, 'compromised-element'),
    });
    for (const [name, pod] of inA) {
      await waitPod(env, ns.A, pod);
      sources.push({ name, namespace: ns.A, pod, ip: await podIp(env, ns.A, pod) });
    }
    for (const room of ['A', 'B'] as const) {
      sources.push({
        name: `${room}/synapse`,
        namespace: ns[room],
        pod: 'synapse-0',
        container: 'synapse',
        ip: await podIp(env, ns[room], 'synapse-0'),
      });
    }
  }

  async function runMatrix(only?: SourceName[]): Promise<Row[]> {
    const rows: Row[] = [];
    for (const s of sources) {
      if (only && !only.includes(s.name)) continue;
      // A pod's own address is not a path through the network.
      const mine = targets.filter((t) => t.host === s.ip).map((t) => t.id);
      const list = targets.filter((t) => !mine.includes(t.id));
      const result = await probeFrom(s, list);
      for (const t of list) {
        rows.push({
          source: s.name,
          target: t,
          expected: allowed(s.name, t) ? 'reached' : 'blocked',
          observed: result[t.id] ?? 'missing',
        });
      }
    }
    return rows;
  }

  async function probeFrom(s: Source, list: Target[]): Promise<Record<string, string>> {
    const args = ['-n', s.namespace, 'exec', s.pod, ...(s.container ? ['-c', s.container] : []), '--'];
    const out = await env.k.exec([...args, 'python', '-c', PROBE, JSON.stringify(list)]);
    return JSON.parse(out) as Record<string, string>;
  }

  async function probeFromHost(list: Target[]): Promise<Record<string, string>> {
    const { stdout } = await run('python3', ['-c', PROBE, JSON.stringify(list)], { timeout: 60_000 });
    return JSON.parse(stdout) as Record<string, string>;
  }
});

function printMatrix(rows: Row[]): void {
  const lines = ['| source | destination:port | expected | observed |', '|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| ${r.source} | ${r.target.label} (${r.target.host}) | ${r.expected} | ${r.observed} |`);
  const reached = rows.filter((r) => r.observed === 'reached').length;
  console.log(
    `isolation matrix: ${rows.length} probes, ${reached} reached, ${rows.length - reached} blocked\n${lines.join('\n')}`,
  );
}

function probePod(env: WarRoomEnv, namespace: string, name: string, labels: Record<string, string>, script: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { 'warroom-test': 'isolation-probe', ...labels } },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 991,
        runAsGroup: 991,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'probe',
          image: env.images.synapse.ref,
          imagePullPolicy: 'Never',
          command: ['python', '-c', script],
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

async function waitPod(env: WarRoomEnv, namespace: string, pod: string): Promise<void> {
  await env.k.exec(['-n', namespace, 'wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=120s']);
}

async function podIp(env: WarRoomEnv, namespace: string, pod: string): Promise<string> {
  const p = await env.k.getJson<{ status: { podIP?: string } }>(['-n', namespace, 'pod', pod]);
  if (!p?.status.podIP) throw new Error(`${namespace}/${pod} has no IP`);
  return p.status.podIP;
}

/** The IP of the running pod of a war-room component (by the operator's labels). */
async function podIpOf(env: WarRoomEnv, namespace: string, component: string): Promise<string> {
  const pods = await env.k.getJson<{ items: { status: { phase: string; podIP?: string } }[] }>([
    '-n',
    namespace,
    'pods',
    '-l',
    `app.kubernetes.io/managed-by=warroom,app.kubernetes.io/component=${component}`,
  ]);
  const ip = pods?.items.find((p) => p.status.phase === 'Running')?.status.podIP;
  if (!ip) throw new Error(`no running ${component} pod in ${namespace}`);
  return ip;
}

async function serviceIp(env: WarRoomEnv, namespace: string, name: string): Promise<string> {
  const svc = await env.k.getJson<{ spec: { clusterIP: string } }>(['-n', namespace, 'service', name]);
  if (!svc?.spec.clusterIP) throw new Error(`no Service ${namespace}/${name}`);
  return svc.spec.clusterIP;
}

async function listenerLog(env: WarRoomEnv, p: { namespace: string; pod: string }): Promise<string> {
  return env.k.exec(['-n', p.namespace, 'logs', p.pod]);
}

/** turnutils_uclient (Debian coturn, installed by hack/peers/debian.sh) with TURN REST credentials. */
async function uclient(server: string, sharedSecret: string, peer: string, peerPort: number): Promise<string> {
  const { username, password } = turnRestCredentials(
    sharedSecret,
    'isolation-test',
    Math.floor(Date.now() / 1000) + 600,
  );
  const args = [
    '-v',
    '-c',
    '-n',
    '1',
    '-p',
    '3478',
    '-u',
    username,
    '-w',
    password,
    '-e',
    peer,
    '-r',
    String(peerPort),
    server,
  ];
  const r = await run('turnutils_uclient', args, { timeout: 30_000 }).catch(
    (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
  return `${r.stdout}\n${r.stderr}`;
}
