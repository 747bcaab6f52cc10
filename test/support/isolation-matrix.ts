// The attacker's isolation matrix, shared by the real node (test/e2e/isolation.test.ts) and kind
// (test/e2e/kind.test.ts). Two war rooms: A from examples/minimal.yaml (SQLite, calls on by default), B from
// examples/full.yaml (Postgres, Ingress, calls on). Probe pods stand where an attacker could: an unrelated namespace,
// the ingress controller's namespace, the monitoring namespace, the operator's namespace, and inside A: a pod wearing
// Element's label (a compromised Element), one wearing coturn's, one wearing the provisioner's. Synapse itself is
// probed from inside its own container. Each tries every port of every war-room Service and pod IP, cluster DNS, the
// apiserver (the `kubernetes` Service and its endpoint on the node) and two listeners the test owns (a pod, the
// node's address), and the outcome must be EXACTLY the allow-list of the design (architecture §"NetworkPolicies
// before any workload"), no more, no less. The matrix is printed (and copied into the README).
// What differs between clusters (kubectl's kubeconfig, where the node's own network namespace is, how to run a TURN
// client from it) is the caller's IsolationDriver. Every probe targets an address the harness created (pod IPs,
// ClusterIPs, the node's address): nothing else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SECRET_NAMES } from '../../src/controllers/incidentchannel/desired/secret-names.ts';
import { SECRET_KEYS } from '../../src/crypto/secret-material.ts';
import { turnRestCredentials } from './coturn-peer.ts';
import { eventually, type KubectlClient } from './kubectl.ts';

/** The probe every source runs (`python -c`): every target at once, one JSON object target id → outcome. */
export const PROBE = readFileSync(new URL('./isolation-probe.py', import.meta.url), 'utf8');
/** What every probe pod runs: a TCP listener on LISTEN_PORT logging each peer (the "does anything reach me" witness). */
export const LISTEN_PORT = 7070;
export const listenerScript = (port: number) =>
  [
    'import socket, sys',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("0.0.0.0", ${port}))`,
    's.listen(64)',
    'while True:',
    '    c, a = s.accept()',
    '    print("accepted", a[0], flush=True)',
    '    c.close()',
  ].join('\n');
const LISTENER = listenerScript(LISTEN_PORT);
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
export interface Target {
  id: string;
  /** What the matrix prints: `A synapse pod :8008`. */
  label: string;
  host: string;
  port: number;
  proto: Proto;
  /** For the allow-list: which war room and component it belongs to, or an infrastructure target. */
  room?: 'A' | 'B';
  component?: 'synapse' | 'element' | 'coturn' | 'postgres' | 'livekit' | 'rtc-authoriser';
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
  | 'B/synapse'
  | 'B/rtc-authoriser (compromised)'
  | 'B/livekit';
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

export const PROBE_NAMESPACES = {
  unrelated: 'iso-unrelated',
  ingress: 'ingress-nginx',
  monitoring: 'monitoring',
} as const;

/** A listener in the node's own network namespace; `peers` are the addresses it accepted since the last `reset`. */
export interface NodeListener {
  host: string;
  port: number;
  peers(): Promise<string[]>;
  reset(): Promise<void>;
}

/** What the matrix needs from a cluster. */
export interface IsolationDriver {
  /** kubectl with the cluster's kubeconfig. */
  k: KubectlClient;
  /** An image with Python 3 the node already holds (the Synapse image): the probe pods run it. */
  probeImage: string;
  operatorNamespace: string;
  /** The operator's Deployment: stopped to remove a policy (it would put it back at once), started to restore it. */
  operatorDeployment: string;
  clusterDnsIp: string;
  /** Where pods reach the apiserver without the Service: the `kubernetes` Service's endpoint on the node. */
  apiServer: { host: string; port: number; label: string };
  nodeListener: NodeListener;
  /** Runs the probe (argv: the targets' JSON) from the node's own network namespace; returns its stdout. */
  probeFromNode(targetsJson: string): Promise<string>;
  /** Runs a command in the node's network namespace, where kube-router's iptables rules and ipsets are. */
  nodeNetExec(argv: string[]): Promise<string>;
  /** turnutils_uclient with these arguments, from the node's network namespace; stdout and stderr together. */
  turnClient(args: string[]): Promise<string>;
}

export interface IsolationContext {
  driver: IsolationDriver;
  /** The war rooms' namespaces: A from examples/minimal.yaml, B from examples/full.yaml. */
  ns: { A: string; B: string };
  /** The listener pod (startListenerPod), up before the war rooms. */
  listenerPod: ListenerPod;
  /** Figures the matrix measures (seconds), printed by the caller. */
  figures: Record<string, number>;
}

export interface ListenerPod {
  ip: string;
  namespace: string;
  pod: string;
}

/** B's MatrixRTC ports (examples/full.yaml's calls.sfu): ICE over TCP on the media Service, signalling on 7880. */
const SFU_MEDIA_TCP = 32020;
const SFU_SIGNALLING = 7880;
/** Synapse's openid-only listener and the recorder's membership port: the authoriser's only ways into Synapse's pod. */
const AUTHORISER_TO_SYNAPSE = [8009, 9103];

/** Targets open to the whole internet by design (TURN, SFU media): no peer list for kube-router to learn. */
const openToAnyone = (t: Target) => t.component === 'coturn' || (t.component === 'livekit' && t.port === SFU_MEDIA_TCP);

/**
 * The design's allow-list (architecture.md, "NetworkPolicies before any workload"; README "Calls" for MatrixRTC),
 * written independently of the policy builder: the test fails if the builder and the design disagree.
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
      case 'B/livekit': // like coturn: DNS, then the internet only
        return t.infra === 'dns';
      case 'B/rtc-authoriser (compromised)': // DNS, Synapse's openid listener and the recorder's port, the SFU's API
        return (
          t.infra === 'dns' ||
          (t.room === 'B' && t.component === 'synapse' && AUTHORISER_TO_SYNAPSE.includes(t.port)) ||
          (t.room === 'B' && t.component === 'livekit' && t.port === SFU_SIGNALLING)
        );
    }
    return false;
  };
  // Ingress of the target: war-room pods accept only their allow-list; infrastructure targets have no policy.
  const ingress = (): boolean => {
    if (!t.room) return true;
    switch (t.component) {
      case 'coturn': // TURN from anywhere (the internet's clients), on the TURN ports
        return true;
      case 'livekit': // media from anywhere; signalling from the ingress controller and the room's authoriser
        return (
          t.port === SFU_MEDIA_TCP || source === 'ingress-nginx' || source === `${t.room}/rtc-authoriser (compromised)`
        );
      case 'rtc-authoriser': // clients come through the ingress controller only
        return source === 'ingress-nginx';
      case 'element':
        return source === 'ingress-nginx';
      case 'postgres':
        return source === `${t.room}/synapse`;
      case 'synapse':
        if (source === 'ingress-nginx') return t.port === 8008;
        if (source === 'monitoring') return t.port === 9000 || t.port === 9101;
        if (source === 'operator-ns') return t.port === 9101 || t.port === 9102;
        if (source === 'A/provisioner') return t.room === 'A' && t.port === 8008;
        if (source === 'B/rtc-authoriser (compromised)')
          return t.room === 'B' && AUTHORISER_TO_SYNAPSE.includes(t.port);
        return false;
    }
    return false;
  };
  return egress() && ingress();
}

/**
 * The probe namespaces and the listener pod in the unrelated one. Called before the war rooms exist, so a probe pod
 * is up before them (the "enforced before" check) and the listener is ready when the matrix needs it.
 */
export async function startListenerPod(d: IsolationDriver): Promise<ListenerPod> {
  for (const name of Object.values(PROBE_NAMESPACES)) {
    await d.k.apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    });
  }
  await d.k.apply(probePod(d, PROBE_NAMESPACES.unrelated, 'probe', {}, LISTENER));
  await waitPod(d, PROBE_NAMESPACES.unrelated, 'probe');
  return {
    ip: await podIp(d, PROBE_NAMESPACES.unrelated, 'probe'),
    namespace: PROBE_NAMESPACES.unrelated,
    pod: 'probe',
  };
}

/**
 * The operator's order, as the apiserver recorded it: every NetworkPolicy of a war room is created no later than the
 * namespace's first pod (creationTimestamp has a one-second resolution, hence ≤).
 */
export async function assertPoliciesBeforePods(k: KubectlClient, room: string, namespace: string): Promise<void> {
  type Items = { items: { metadata: { name: string; creationTimestamp: string } }[] };
  const policies = await k.getJson<Items>(['-n', namespace, 'networkpolicies']);
  const pods = await k.getJson<Items>(['-n', namespace, 'pods']);
  const lastPolicy = Math.max(...(policies?.items ?? []).map((p) => Date.parse(p.metadata.creationTimestamp)));
  const firstPod = Math.min(...(pods?.items ?? []).map((p) => Date.parse(p.metadata.creationTimestamp)));
  assert.ok((policies?.items.length ?? 0) >= 7, `${room} has its policies`);
  assert.ok(
    lastPolicy <= firstPod,
    `${room}: the last policy (${lastPolicy}) is not after the first pod (${firstPod})`,
  );
}

/**
 * Registers the matrix's tests in the caller's describe, in order: the first-packet check (todo), the matrix, the
 * TURN relay into the cluster, coturn's egress alone, and the matrix failing when a policy is removed. `ctx` is read
 * when the tests run (after the caller's set-up and war rooms).
 */
export function isolationTests(ctx: () => IsolationContext): void {
  const sources: Source[] = [];
  const targets: Target[] = [];

  // KNOWN GAP of the test peer, measured: kube-router v2.1.0 writes a pod's firewall chain only when its sync sees the
  // pod's IP, so a new pod's very first packets pass (this pod's first connection reached the listener). The policies
  // themselves exist before the first pod (assertPoliciesBeforePods); CNIs that program a pod's policy before its
  // network is up close this window. Kept running (todo) so the gap stays visible.
  test('a new pod under the war room’s policies is enforced from its first packet (its first connection fails)', {
    todo: 'kube-router v2.1.0 lets a new pod’s first packets through until its next sync',
  }, async () => {
    const { driver: d, ns, listenerPod } = ctx();
    assert.ok(ns.A, 'A is up');
    // The compromised-Element stand-in: Element's label, PSA restricted (A's namespace enforces it), and as its very
    // first action it tries the listener pod in the unrelated namespace.
    await d.k.apply(
      probePod(
        d,
        ns.A,
        'compromised-element',
        { 'app.kubernetes.io/component': 'element' },
        FIRST_ATTEMPT(listenerPod.ip),
      ),
    );
    await waitPod(d, ns.A, 'compromised-element');
    const log = await eventually(
      'the first attempt is logged',
      async () => {
        const l = await d.k.exec(['-n', ns.A, 'logs', 'compromised-element']);
        return /first attempt:/.test(l) ? l : undefined;
      },
      30_000,
    );
    const ip = await podIp(d, ns.A, 'compromised-element');
    console.log(`compromised Element's first connection: ${log.split('\n')[0]}`);
    assert.match(log, /first attempt: blocked/);
    assert.doesNotMatch(await listenerLog(d, listenerPod), new RegExp(`accepted ${ip.replaceAll('.', '\\.')}$`, 'm'));
  });

  test('every source → every war-room port: exactly the allow-list (the matrix)', async () => {
    const { driver: d, ns, listenerPod } = ctx();
    assert.ok(ns.A && ns.B, 'both war rooms are up');
    await collectTargets();
    await startSources();
    await kubeRouterKnowsSources();
    // Baseline from the node itself (kube-router always lets the node through): every target answers, so a
    // "blocked" below is the policy, not a closed port.
    const baseline = JSON.parse(await d.probeFromNode(JSON.stringify(targets))) as Record<string, string>;
    const dead = targets.filter((t) => baseline[t.id] !== 'reached').map((t) => `${t.label} (${baseline[t.id]})`);
    assert.deepEqual(dead, [], 'every target answers from the node');

    // The listeners' witnesses count from here (the compromised pod's first-packet attempt is the previous test's).
    const podLogBefore = (await listenerLog(d, listenerPod)).length;
    await d.nodeListener.reset();
    const rows = await runMatrix();
    printMatrix(rows);
    const wrong = rows.filter((r) => (r.observed === 'reached') !== (r.expected === 'reached'));
    assert.deepEqual(
      wrong.map((r) => `${r.source} → ${r.target.label}: expected ${r.expected}, observed ${r.observed}`),
      [],
    );
    // Nothing from a war-room pod reached the listeners the test owns (the pod's and the node's own log).
    const warRoomIps = sources.filter((s) => s.name.includes('/')).map((s) => s.ip);
    const podLog = (await listenerLog(d, listenerPod)).slice(podLogBefore);
    const nodePeers = await d.nodeListener.peers();
    for (const ip of warRoomIps) {
      assert.doesNotMatch(podLog, new RegExp(`accepted ${ip.replaceAll('.', '\\.')}$`, 'm'));
      assert.ok(!nodePeers.includes(ip), `${ip} never reached the node's listener`);
    }
    // …while a pod with no policy did, so the witnesses work.
    const unrelated = sources.find((s) => s.name === 'unrelated')?.ip ?? '';
    assert.ok(nodePeers.includes(unrelated), 'the unrelated pod reached the node listener');
  });

  test('a TURN allocation asking coturn to relay into the cluster is refused by coturn itself (its deny list)', async () => {
    // From the node (TURN is open to anyone), with B's real TURN credentials: coturn answers CreatePermission for a
    // pod IP and a ClusterIP with 403 Forbidden IP. The network is not involved: coturn never sends the packet.
    const { driver: d, ns } = ctx();
    const secret = await d.k.getJson<{ data: Record<string, string> }>(['-n', ns.B, 'secret', SECRET_NAMES.turn]);
    const shared = Buffer.from(secret?.data[SECRET_KEYS.turnSharedSecret] ?? '', 'base64').toString('utf8');
    assert.ok(shared, 'the TURN shared secret is unsealed');
    const turn = await serviceIp(d, ns.B, 'coturn');
    const synapsePod = await podIpOf(d, ns.A, 'synapse');
    const synapseSvc = await serviceIp(d, ns.A, 'synapse');
    for (const peer of [synapsePod, synapseSvc]) {
      const out = await d.turnClient(uclientArgs(turn, shared, peer, 8008));
      assert.match(out, /Received relay addr|relay addr/i, `the allocation itself succeeds:\n${out}`);
      assert.match(out, /403|Forbidden/i, `CreatePermission to ${peer} is refused:\n${out}`);
    }
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
    const { driver: d, ns, figures } = ctx();
    // The operator would put the policy back at once: stop it first, then restore it by starting it again.
    const deployment = ['-n', d.operatorNamespace, 'deployment', d.operatorDeployment];
    await d.k.exec(['scale', ...deployment, '--replicas=0']);
    await eventually(
      'the operator is stopped',
      async () => {
        const pods = await d.k.getJson<{ items: unknown[] }>([
          '-n',
          d.operatorNamespace,
          'pods',
          '-l',
          'app.kubernetes.io/name=warroom',
        ]);
        return pods?.items.length === 0;
      },
      60_000,
    );
    try {
      await d.k.exec(['-n', ns.A, 'delete', 'networkpolicy', 'default-deny', '--wait=true']);
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
      await d.k.exec(['scale', ...deployment, '--replicas=1']);
    }
    await eventually(
      'the operator restores default-deny',
      async () => (await d.k.getJson(['-n', ns.A, 'networkpolicy', 'default-deny'])) !== undefined,
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
    const { driver: d, ns, listenerPod } = ctx();
    targets.length = 0;
    const add = (t: Omit<Target, 'id'>) => targets.push({ ...t, id: String(targets.length) });
    for (const room of ['A', 'B'] as const) {
      // [component, its Service, port, protocol]. B (examples/full.yaml) adds Postgres and MatrixRTC: Synapse's openid
      // listener and the recorder's membership port, the SFU (signalling; ICE over TCP on its media Service) and the
      // authoriser. A (examples/minimal.yaml) has no SFU block, so none of those.
      const ports: [NonNullable<Target['component']>, string, number, Proto][] = [
        ['synapse', 'synapse', 8008, 'tcp'],
        ['synapse', 'synapse', 9000, 'tcp'],
        ['synapse', 'synapse', 9101, 'tcp'],
        ['synapse', 'synapse', 9102, 'tcp'],
        ['element', 'element', 8080, 'tcp'],
        ['coturn', 'coturn', 3478, 'tcp'],
        ['coturn', 'coturn', 3478, 'stun'],
        ...(room === 'B'
          ? ([
              ['postgres', 'postgres', 5432, 'tcp'],
              ...AUTHORISER_TO_SYNAPSE.map((port) => ['synapse', 'synapse', port, 'tcp']),
              ['livekit', 'livekit', SFU_SIGNALLING, 'tcp'],
              ['livekit', 'livekit-media', SFU_MEDIA_TCP, 'tcp'],
              ['rtc-authoriser', 'rtc-authoriser', 8090, 'tcp'],
            ] as [NonNullable<Target['component']>, string, number, Proto][])
          : []),
      ];
      for (const [c, service, port, proto] of ports) {
        const pod = await podIpOf(d, ns[room], c);
        const svc = await serviceIp(d, ns[room], service);
        const p = proto === 'tcp' ? `${port}` : `${port}/udp`;
        add({ label: `${room} ${c} pod :${p}`, host: pod, port, proto, room, component: c });
        add({ label: `${room} ${c} svc :${p}`, host: svc, port, proto, room, component: c });
      }
    }
    add({ label: 'cluster DNS svc :53/udp', host: d.clusterDnsIp, port: 53, proto: 'dns', infra: 'dns' });
    add({ label: 'kubernetes svc :443', host: '10.96.0.1', port: 443, proto: 'tcp', infra: 'apiserver' });
    add({ label: d.apiServer.label, host: d.apiServer.host, port: d.apiServer.port, proto: 'tcp', infra: 'apiserver' });
    add({
      label: `test listener pod :${LISTEN_PORT}`,
      host: listenerPod.ip,
      port: LISTEN_PORT,
      proto: 'tcp',
      infra: 'listener-pod',
    });
    add({
      label: `test listener on the node :${d.nodeListener.port}`,
      host: d.nodeListener.host,
      port: d.nodeListener.port,
      proto: 'tcp',
      infra: 'listener-node',
    });
  }

  async function startSources(): Promise<void> {
    if (sources.length > 0) return;
    const { driver: d, ns } = ctx();
    const plain: [SourceName, string][] = [
      ['unrelated', PROBE_NAMESPACES.unrelated],
      ['ingress-nginx', PROBE_NAMESPACES.ingress],
      ['monitoring', PROBE_NAMESPACES.monitoring],
      ['operator-ns', d.operatorNamespace],
    ];
    for (const [name, namespace] of plain) {
      if (name !== 'unrelated') await d.k.apply(probePod(d, namespace, 'probe', {}, LISTENER));
    }
    // Inside A: pods wearing a component's label only (not the channel's), so the policies select them and no Service
    // ever sends them traffic.
    const inA: [SourceName, string, string][] = [
      ['A/coturn', 'probe-coturn', 'coturn'],
      ['A/provisioner', 'probe-provisioner', 'provisioner'],
    ];
    for (const [, pod, component] of inA) {
      await d.k.apply(probePod(d, ns.A, pod, { 'app.kubernetes.io/component': component }, LISTENER));
    }
    // Inside B: a compromised authoriser (the internet-facing MatrixRTC piece) and an SFU stand-in.
    const inB: [SourceName, string, string][] = [
      ['B/rtc-authoriser (compromised)', 'probe-rtc-authoriser', 'rtc-authoriser'],
      ['B/livekit', 'probe-livekit', 'livekit'],
    ];
    for (const [, pod, component] of inB) {
      await d.k.apply(probePod(d, ns.B, pod, { 'app.kubernetes.io/component': component }, LISTENER));
    }
    for (const [name, namespace] of plain) {
      await waitPod(d, namespace, 'probe');
      sources.push({ name, namespace, pod: 'probe', ip: await podIp(d, namespace, 'probe') });
    }
    sources.push({
      name: 'A/element (compromised)',
      namespace: ns.A,
      pod: 'compromised-element',
      ip: await podIp(d, ns.A, 'compromised-element'),
    });
    for (const [name, pod] of inA) {
      await waitPod(d, ns.A, pod);
      sources.push({ name, namespace: ns.A, pod, ip: await podIp(d, ns.A, pod) });
    }
    for (const [name, pod] of inB) {
      await waitPod(d, ns.B, pod);
      sources.push({ name, namespace: ns.B, pod, ip: await podIp(d, ns.B, pod) });
    }
    for (const room of ['A', 'B'] as const) {
      sources.push({
        name: `${room}/synapse`,
        namespace: ns[room],
        pod: 'synapse-0',
        container: 'synapse',
        ip: await podIp(d, ns[room], 'synapse-0'),
      });
    }
  }

  /**
   * Waits until kube-router's rules know every source: a war-room pod's own firewall chain is written (its REJECT
   * rule names the pod), and a pod the allow-list lets into a war room is in kube-router's peer ipsets. Until its sync
   * has run, a just-started probe pod is neither allowed nor denied as its namespace says (the engine's known gap).
   */
  async function kubeRouterKnowsSources(): Promise<void> {
    const { driver: d, ns } = ctx();
    const warRooms = [ns.A, ns.B];
    const peerOfAWarRoom = (s: Source) => targets.some((t) => t.room && !openToAnyone(t) && allowed(s.name, t));
    const t0 = performance.now();
    await eventually(
      'kube-router has programmed every probe pod',
      async () => {
        const rules = await d.nodeNetExec(['iptables-save', '-t', 'filter']);
        const sets = await d.nodeNetExec(['ipset', 'save']);
        return sources.every((s) =>
          warRooms.includes(s.namespace)
            ? rules.includes(`POD name:${s.pod} namespace: ${s.namespace}`)
            : !peerOfAWarRoom(s) || new RegExp(` ${s.ip.replaceAll('.', '\\.')}( |$)`, 'm').test(sets),
        );
      },
      60_000,
    );
    console.log(`kube-router knew every probe pod after ${((performance.now() - t0) / 1000).toFixed(1)} s of polling`);
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
    const { driver: d } = ctx();
    const args = ['-n', s.namespace, 'exec', s.pod, ...(s.container ? ['-c', s.container] : []), '--'];
    const out = await d.k.exec([...args, 'python', '-c', PROBE, JSON.stringify(list)]);
    return JSON.parse(out) as Record<string, string>;
  }
}

function printMatrix(rows: Row[]): void {
  const lines = ['| source | destination:port | expected | observed |', '|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| ${r.source} | ${r.target.label} (${r.target.host}) | ${r.expected} | ${r.observed} |`);
  const reached = rows.filter((r) => r.observed === 'reached').length;
  console.log(
    `isolation matrix: ${rows.length} probes, ${reached} reached, ${rows.length - reached} blocked\n${lines.join('\n')}`,
  );
}

function probePod(d: IsolationDriver, namespace: string, name: string, labels: Record<string, string>, script: string) {
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
          image: d.probeImage,
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

async function waitPod(d: IsolationDriver, namespace: string, pod: string): Promise<void> {
  await d.k.exec(['-n', namespace, 'wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=120s']);
}

async function podIp(d: IsolationDriver, namespace: string, pod: string): Promise<string> {
  const p = await d.k.getJson<{ status: { podIP?: string } }>(['-n', namespace, 'pod', pod]);
  if (!p?.status.podIP) throw new Error(`${namespace}/${pod} has no IP`);
  return p.status.podIP;
}

/** The IP of the running pod of a war-room component (by the operator's labels). */
async function podIpOf(d: IsolationDriver, namespace: string, component: string): Promise<string> {
  const pods = await d.k.getJson<{ items: { status: { phase: string; podIP?: string } }[] }>([
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

async function serviceIp(d: IsolationDriver, namespace: string, name: string): Promise<string> {
  const svc = await d.k.getJson<{ spec: { clusterIP: string } }>(['-n', namespace, 'service', name]);
  if (!svc?.spec.clusterIP) throw new Error(`no Service ${namespace}/${name}`);
  return svc.spec.clusterIP;
}

async function listenerLog(d: IsolationDriver, p: { namespace: string; pod: string }): Promise<string> {
  return d.k.exec(['-n', p.namespace, 'logs', p.pod]);
}

/** turnutils_uclient's arguments (Debian coturn) with TURN REST credentials: one allocation, a permission to `peer`. */
function uclientArgs(server: string, sharedSecret: string, peer: string, peerPort: number): string[] {
  const { username, password } = turnRestCredentials(
    sharedSecret,
    'isolation-test',
    Math.floor(Date.now() / 1000) + 600,
  );
  return [
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
}
