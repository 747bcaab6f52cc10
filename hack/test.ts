// npm test — builds what the tests need (cached outside the repo), installs the real peers, starts ONE local control
// plane shared by every test file, runs all tests with node:test, and tears everything down.
// `npm test -- <files or globs>` runs a subset; a run of unit tests only starts no cluster.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, matchesGlob } from 'node:path';
import { describeCluster, SHARED_CLUSTER_ENV } from '../test/cluster/index.ts';
import { ensureBinaries } from './cluster/binaries.ts';
import { type LocalCluster, startCluster } from './cluster/local-cluster.ts';
import { realNodeUnsupportedReason } from './cluster/real-node.ts';
import { ensureImages, RUNTIME_IMAGES } from './images/build.ts';

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const say = (m: string) => process.stderr.write(`[test] ${m} (${elapsed()})\n`);

const patterns = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = patterns.length > 0 ? patterns : ['test/**/*.test.ts'];
const needsCluster = files.some((f) => !f.startsWith('test/unit'));
// Tests that start a real node of their own: a cold image build (minutes) is done once here, not in a test's timeout.
const REAL_NODE_TESTS = ['test/integration/real-node.test.ts', 'test/e2e/real-node-warroom.test.ts'];
const needsRealNode =
  !realNodeUnsupportedReason() && REAL_NODE_TESTS.some((t) => files.some((f) => f === t || matchesGlob(t, f)));

// Real peers the e2e tests run: Debian packages (coturn, promtool) and Synapse from PyPI, installed by our own scripts.
for (const script of ['hack/peers/debian.sh', 'hack/peers/synapse.sh']) {
  if (!needsCluster || !existsSync(script)) continue;
  say(`installing peers: ${script}`);
  const r = spawnSync('bash', [script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status})`);
}

let cluster: LocalCluster | undefined;
let sharedDir: string | undefined;
const env: NodeJS.ProcessEnv = { ...process.env };
if (needsCluster) {
  say('building or locating the pinned binaries');
  await ensureBinaries(['kubeseal', 'sealed-secrets-controller', 'helm']);
  if (needsRealNode) {
    await ensureBinaries(['kubelet', 'kube-proxy', 'coredns', 'kube-router']);
    say("building or locating the real node's images");
    await ensureImages([...RUNTIME_IMAGES]);
  }
  cluster = await startCluster();
  say(`local control plane ready: ${JSON.stringify(cluster.timings)}`);
  sharedDir = await mkdtemp(join(tmpdir(), 'warroom-test-'));
  const shared = join(sharedDir, 'cluster.json');
  await writeFile(shared, JSON.stringify(describeCluster(cluster)));
  env[SHARED_CLUSTER_ENV] = shared;
}

const cleanup = async () => {
  await cluster?.stop();
  if (sharedDir) await rm(sharedDir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

const args = [
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${process.env.WARROOM_TEST_CONCURRENCY ?? '3'}`,
  '--test-timeout=900000',
  ...files,
];
say(`node ${args.join(' ')}`);
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env });
  child.on('exit', (c) => resolve(c ?? 1));
});
await cleanup();
say(`done, exit ${code}`);
process.exit(code);
