// ISOLATION, ENFORCED AND ATTACKED, on the real node (kubelet + containerd, NetworkPolicies enforced by kube-router,
// a test peer). The matrix itself (sources, targets, the design's allow-list, the probes) is
// test/support/isolation-matrix.ts, shared with the kind e2e; this file gives it the real node: kubectl on the
// harness's cluster, the host as the node's network namespace, a listener on the node's bridge address.
// Two war rooms: A from examples/minimal.yaml, B from examples/full.yaml (calls on).
// Every probe targets an address the harness created (pod IPs, ClusterIPs, the bridge): nothing else.
// Root on Linux only; one real node per machine (the harness waits for the lock).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { realNodeUnsupportedReason } from '../../hack/cluster/real-node.ts';
import {
  assertPoliciesBeforePods,
  type IsolationContext,
  type IsolationDriver,
  isolationTests,
  PROBE,
  startListenerPod,
} from '../support/isolation-matrix.ts';
import {
  type Channel,
  OPERATOR_NAMESPACE,
  OPERATOR_RELEASE,
  startWarRoomEnv,
  uniqueChannelName,
  type WarRoomEnv,
} from '../support/real-node-warroom.ts';

const run = promisify(execFile);
const unsupported = realNodeUnsupportedReason();

/** The real node's side of the matrix: the host is the node, so its probes and listener run here. */
async function realNodeDriver(env: WarRoomEnv, nodeListener: Server): Promise<IsolationDriver> {
  const info = env.cluster.realNode;
  if (!info) throw new Error('no real node');
  const peers: string[] = [];
  nodeListener.on('connection', (s) => {
    peers.push(s.remoteAddress ?? '?');
    s.destroy();
  });
  await new Promise<void>((r) => nodeListener.listen(0, info.nodeIp, r));
  const apiPort = Number(new URL(env.cluster.server).port);
  const local = async (bin: string, args: string[]) =>
    (await run(bin, args, { timeout: 60_000, maxBuffer: 64 << 20 })).stdout;
  return {
    k: env.k,
    probeImage: env.images.synapse.ref,
    operatorNamespace: OPERATOR_NAMESPACE,
    operatorDeployment: OPERATOR_RELEASE,
    clusterDnsIp: info.clusterDnsIp,
    apiServer: { host: info.nodeIp, port: apiPort, label: `apiserver forwarder (node) :${apiPort}` },
    nodeListener: {
      host: info.nodeIp,
      port: (nodeListener.address() as { port: number }).port,
      peers: async () => [...peers],
      reset: async () => {
        peers.length = 0;
      },
    },
    probeFromNode: (targetsJson) => local('python3', ['-c', PROBE, targetsJson]),
    nodeNetExec: ([bin, ...args]) => local(bin ?? '', args),
    // turnutils_uclient: Debian coturn, installed by hack/peers/debian.sh. A refused permission exits non-zero.
    turnClient: (args) =>
      run('turnutils_uclient', args, { timeout: 30_000 }).then(
        (r) => `${r.stdout}\n${r.stderr}`,
        (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}\n${e.stderr ?? ''}`,
      ),
  };
}

describe('war-room isolation on a real node, as an attacker would try it', {
  skip: unsupported ? `skipped: ${unsupported}` : false,
}, () => {
  let env: WarRoomEnv;
  const nameA = uniqueChannelName('iso-a');
  const nameB = uniqueChannelName('iso-b');
  const nodeListener = createServer();
  const ctx: Partial<IsolationContext> & Pick<IsolationContext, 'ns' | 'figures'> = {
    ns: { A: '', B: '' },
    figures: {},
  };

  before(
    async () => {
      env = await startWarRoomEnv();
      console.log(`set-up (s): ${JSON.stringify(env.timings)}`);
      assert.equal(env.cluster.realNode?.networkPolicies, true, 'the real node enforces NetworkPolicies');
      ctx.driver = await realNodeDriver(env, nodeListener);
      // The probe namespaces first, so a probe pod exists before the war rooms (the "enforced before" check).
      ctx.listenerPod = await startListenerPod(ctx.driver);
    },
    { timeout: 40 * 60_000 },
  );

  after(async () => {
    nodeListener.close();
    await env?.stop();
    console.log(`figures (s): ${JSON.stringify(ctx.figures)}`);
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
      ctx.ns[room] = ready.status?.namespace ?? '';
      assert.ok(ctx.ns[room]);
      ctx.figures[`${room} apply → Ready`] = Number(((performance.now() - t0) / 1000).toFixed(1));
    }
    for (const room of ['A', 'B'] as const) await assertPoliciesBeforePods(env.k, room, ctx.ns[room]);
  });

  isolationTests(() => {
    const { driver, listenerPod, ns, figures } = ctx;
    if (!driver || !listenerPod) throw new Error('the real node is not up');
    return { driver, listenerPod, ns, figures };
  });
});
