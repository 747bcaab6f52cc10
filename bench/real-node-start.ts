// Real-node start-up (root only): control plane + kubelet/containerd/kube-proxy/CoreDNS until the node is Ready,
// then until a first restricted pod (local image, httpGet readiness probe) is Ready, then how long stop() takes to
// leave nothing behind; any wait for another real-node run on the machine (one at a time) is subtracted.
// BENCH_RUNS (default 3) starts in a row; the first includes the process's cold start.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBusyboxImage } from '../hack/cluster/busybox-image.ts';
import { REAL_NODE_HOST_READY, startCluster } from '../hack/cluster/local-cluster.ts';
import { realNodeUnsupportedReason } from '../hack/cluster/real-node.ts';

const exec = promisify(execFile);
const unsupported = realNodeUnsupportedReason();
if (unsupported) {
  console.error(`real-node-start: ${unsupported}`);
  process.exit(2);
}
const runs = Number(process.env.BENCH_RUNS ?? 3);
const IMAGE = 'localhost/warroom/bench-busybox:1';
const imageDir = await mkdtemp(join(tmpdir(), 'warroom-bench-images-'));
const archive = await buildBusyboxImage(imageDir, IMAGE, { user: '65532:65532' });

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'web',
        image: IMAGE,
        imagePullPolicy: 'Never',
        command: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'],
        readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
      },
    ],
  },
};

const rows: { nodeReady: number; podReady: number; stop: number }[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c = await startCluster({ node: 'real', images: [archive], log: () => {} });
    // Time spent waiting for another real-node run on this machine (one at a time) is not start-up: subtract it.
    const lockWait = c.timings[REAL_NODE_HOST_READY] ?? 0;
    const nodeReady = (performance.now() - t0) / 1000 - lockWait;
    const kubectl = (args: string[], input?: string) => {
      const p = exec(c.binaries.kubectl, ['--kubeconfig', c.kubeconfig, ...args]);
      if (input) p.child.stdin?.end(input);
      return p;
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    await kubectl(['wait', '--for=condition=Ready', 'pod/web', '--timeout=120s']);
    const podReady = (performance.now() - t0) / 1000 - lockWait;
    const s0 = performance.now();
    await c.stop();
    const stop = (performance.now() - s0) / 1000;
    rows.push({ nodeReady, podReady, stop });
    console.log(
      `start ${i + 1}${i === 0 ? ' (cold process)' : ''}: node Ready ${nodeReady.toFixed(2)} s, first pod Ready ` +
        `${podReady.toFixed(2)} s, stop ${stop.toFixed(2)} s${lockWait > 1 ? ` (after ${lockWait.toFixed(0)} s waiting for the lock)` : ''}  ` +
        JSON.stringify(c.timings),
    );
  }
} finally {
  await rm(imageDir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(
  `real-node-start: median over ${rows.length} runs: node Ready ${median(rows.map((r) => r.nodeReady)).toFixed(2)} s, ` +
    `first pod Ready ${median(rows.map((r) => r.podReady)).toFixed(2)} s, stop ${median(rows.map((r) => r.stop)).toFixed(2)} s`,
);
