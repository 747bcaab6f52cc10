// A real-node harness SIGKILLed with a pod running leaves what pdeathsig cannot reach (containerd shims, the pod's
// processes, mounts, its bridge, kube-proxy's chains); the next real-node cluster must find and remove all of it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { taskIdsOnDisk } from '../../hack/cluster/containerd.ts';
import { mountsUnder, processesUsing } from '../../hack/cluster/host-cleanup.ts';
import { hostLinks } from '../../hack/cluster/host-net.ts';
import { type LocalCluster, startCluster } from '../../hack/cluster/local-cluster.ts';
import { realNodeUnsupportedReason } from '../../hack/cluster/real-node.ts';

const unsupported = realNodeUnsupportedReason();
const root = fileURLToPath(new URL('../..', import.meta.url));

/** The child: a real-node cluster with one running pod; prints its dir and bridge, then waits to be killed. */
const CHILD = `
import { buildBusyboxImage } from '${root}hack/cluster/busybox-image.ts';
import { startCluster } from '${root}hack/cluster/local-cluster.ts';
import { execFileSync } from 'node:child_process';
const [imageDir, out] = process.argv.slice(-2);
const image = 'localhost/warroom/test-busybox:sigkill';
const archive = await buildBusyboxImage(imageDir, image, { user: '65532:65532' });
const c = await startCluster({ node: 'real', images: [archive], log: () => {} });
const k = (...a) => execFileSync(c.binaries.kubectl, ['--kubeconfig', c.kubeconfig, ...a], { input: a.includes('-') ? JSON.stringify({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sleeper', namespace: 'default' },
  spec: { containers: [{ name: 's', image, imagePullPolicy: 'Never', command: ['/bin/sleep', '3600'] }] } }) : undefined });
k('apply', '-f', '-');
k('wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=90s');
(await import('node:fs')).writeFileSync(out, JSON.stringify({ dir: c.dir, bridge: c.realNode.bridge }));
setInterval(() => {}, 1 << 30);
`;

let next: LocalCluster | undefined;
let work: string | undefined;
let deadDir: string | undefined;
after(async () => {
  await next?.stop().catch(() => {});
  if (work) await rm(work, { recursive: true, force: true });
  if (deadDir) await rm(deadDir, { recursive: true, force: true });
});

test('a real-node cluster cleans up after one that was SIGKILLed with a pod running', {
  skip: unsupported ? `skipped: ${unsupported}` : false,
  timeout: 300_000,
}, async () => {
  const forwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  work = await mkdtemp(join(tmpdir(), 'warroom-sigkill-'));
  const out = join(work, 'child.json');
  const node = join(root, 'node_modules/.bin/node');
  const child = spawn(node, ['--input-type=module', '-e', CHILD, work, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 180_000;
  while (!existsSync(out)) {
    assert.equal(child.exitCode, null, `the child cluster exited early:\n${stderr}`);
    assert.ok(Date.now() < deadline, `the child cluster did not start in time:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const dead = JSON.parse(await readFile(out, 'utf8')) as { dir: string; bridge: string };
  deadDir = dead.dir;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  // What survives the harness: the pod's processes and shims, its mounts, the bridge.
  await new Promise((r) => setTimeout(r, 500));
  const ids = await taskIdsOnDisk(join(dead.dir, 'node', 'containerd'));
  assert.ok(ids.length >= 2, 'the pod and its sandbox had tasks');
  const survivors = await processesUsing(dead.dir, ids);
  assert.ok(
    survivors.some((p) => p.cmdline.includes('sleep 3600')),
    'the pod’s own process outlives a SIGKILLed harness',
  );
  assert.ok(
    survivors.some((p) => p.cmdline.includes('containerd-shim')),
    'so do the shims',
  );
  assert.ok((await mountsUnder(dead.dir)).length > 0);
  assert.ok((await hostLinks()).includes(dead.bridge));

  next = await startCluster({ node: 'real', log: () => {} });
  assert.ok(
    !existsSync('/run/containerd/s') || (await readdir('/run/containerd/s')).length === 0,
    'no stale shim socket',
  );
  assert.deepEqual(await processesUsing(dead.dir, ids), [], 'the dead run’s shims and pod processes are gone');
  for (const id of ids) assert.equal(existsSync(`/sys/fs/cgroup/memory/k8s.io/${id}`), false, 'its cgroups are gone');
  assert.deepEqual(await mountsUnder(dead.dir), [], 'the dead run’s mounts are gone');
  assert.ok(!(await hostLinks()).includes(dead.bridge), 'the dead run’s bridge is gone');
  await next.stop();
  next = undefined;
  assert.equal((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(), forwardBefore, 'ip_forward restored');
});
