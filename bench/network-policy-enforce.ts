// NetworkPolicy apply → enforced on the real node (root only; kube-router, the harness's test peer, enforces). A
// client pod in another namespace fetches a server pod's page in a tight loop and logs each outcome with its clock
// (the kernel's uptime clock, shared by containers and the host); the bench applies a default-deny ingress policy to the server's
// namespace and reads from that log when the first fetch was refused, then deletes it and reads when the first fetch
// got through again. BENCH_CYCLES (default 5) of each, one cluster. Prints every sample and the median.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBusyboxImage } from '../hack/cluster/busybox-image.ts';
import { startCluster } from '../hack/cluster/local-cluster.ts';
import { realNodeUnsupportedReason } from '../hack/cluster/real-node.ts';

const exec = promisify(execFile);
/** The kernel's clock, in seconds (10 ms steps): the client pod logs the same one (busybox's date has no %N). */
const uptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const unsupported = realNodeUnsupportedReason();
if (unsupported) {
  console.error(`network-policy-enforce: ${unsupported}`);
  process.exit(2);
}
const cycles = Number(process.env.BENCH_CYCLES ?? 5);
const IMAGE = 'localhost/warroom/bench-busybox:np';
const imageDir = await mkdtemp(join(tmpdir(), 'warroom-bench-np-'));
const archive = await buildBusyboxImage(imageDir, IMAGE, { user: '65532:65532' });
const restricted = {
  pod: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
};
const pod = (namespace: string, name: string, command: string[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels: { app: name } },
  spec: {
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 1,
    securityContext: restricted.pod,
    containers: [{ name, image: IMAGE, imagePullPolicy: 'Never', command, securityContext: restricted.container }],
  },
});

const c = await startCluster({ node: 'real', images: [archive], log: () => {} });
const kubectl = async (args: string[], input?: string) => {
  const p = exec(c.binaries.kubectl, ['--kubeconfig', c.kubeconfig, ...args], { maxBuffer: 64 << 20 });
  if (input) p.child.stdin?.end(input);
  return (await p).stdout;
};
const apply = (o: unknown) => kubectl(['apply', '-f', '-'], JSON.stringify(o));
const deny = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'deny', namespace: 'bench-server' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};
const blocked: number[] = [];
const open: number[] = [];
try {
  for (const ns of ['bench-server', 'bench-client'])
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await apply(pod('bench-server', 'server', ['/bin/httpd', '-f', '-p', '8080', '-h', '/www']));
  await kubectl(['-n', 'bench-server', 'wait', '--for=condition=Ready', 'pod/server', '--timeout=120s']);
  const ip = JSON.parse(await kubectl(['-n', 'bench-server', 'get', 'pod', 'server', '-o', 'json'])).status.podIP;
  // Bounded: the pod lives as long as the bench; each fetch has a 1 s deadline.
  const loop = `while :; do if timeout 1 wget -q -O /dev/null http://${ip}:8080/ 2>/dev/null; then s=open; else s=blocked; fi; read up _ < /proc/uptime; echo "$up $s"; done`;
  await apply(pod('bench-client', 'client', ['/bin/sh', '-c', loop]));
  await kubectl(['-n', 'bench-client', 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s']);

  /** Seconds from `since` (the kernel's uptime) to the first logged outcome `want` at or after it. */
  const firstAfter = async (since: number, want: 'open' | 'blocked'): Promise<number> => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const log = await kubectl(['-n', 'bench-client', 'logs', 'client', '--since=60s']);
      for (const line of log.split('\n')) {
        const [t, s] = line.split(' ');
        const at = Number(t);
        if (s === want && at >= since) return at - since;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no "${want}" fetch within 30 s`);
  };
  for (let i = 0; i < cycles; i++) {
    const applied = uptime();
    await apply(deny);
    blocked.push(await firstAfter(applied, 'blocked'));
    const deleted = uptime();
    await kubectl(['-n', 'bench-server', 'delete', 'networkpolicy', 'deny', '--wait=true']);
    open.push(await firstAfter(deleted, 'open'));
    console.log(
      `cycle ${i + 1}: deny applied → first fetch refused ${blocked.at(-1)?.toFixed(3)} s; deleted → first fetch through ${open.at(-1)?.toFixed(3)} s`,
    );
  }
} finally {
  await c.stop();
  await rm(imageDir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(
  `network-policy-enforce (kube-router v2.1.0, ${cycles} cycles): apply → enforced median ${median(blocked).toFixed(3)} s ` +
    `(max ${Math.max(...blocked).toFixed(3)} s); delete → lifted median ${median(open).toFixed(3)} s (max ${Math.max(...open).toFixed(3)} s). ` +
    'Includes kubectl apply/delete (the clock starts before the call).',
);
