// npm run cluster:up [-- --node=real] | cluster:down | cluster:status — a local control plane for humans, kept running in
// the background. `--node=real` joins a real kubelet + containerd node (root only; see real-node.ts) instead of kwok;
// `--images` (with it) also builds or reuses the project's images (hack/images) and imports them into the node.
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './cache-dir.ts';
import { type NodeKind, startCluster } from './local-cluster.ts';
import type { RealNodeInfo } from './real-node.ts';

const runDir = cacheDir('run', 'local');
const stateFile = join(runDir, 'state.json');
const serveLog = join(runDir, 'serve.log');

interface State {
  pid: number;
  kubeconfig: string;
  server: string;
  dir: string;
  kubectl: string;
  node?: NodeKind;
  realNode?: RealNodeInfo;
}

function nodeKindArg(): NodeKind {
  const arg = process.argv.slice(3).find((a) => a.startsWith('--node='));
  const kind = arg?.slice('--node='.length) ?? 'kwok';
  if (kind !== 'kwok' && kind !== 'real') throw new Error(`--node must be kwok or real, not ${JSON.stringify(kind)}`);
  return kind;
}

function readState(): State | undefined {
  if (!existsSync(stateFile)) return undefined;
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  try {
    process.kill(state.pid, 0);
    return state;
  } catch {
    return undefined;
  }
}

function kubectlHint(s: State): string {
  const node = s.realNode
    ? [
        `real node ${s.realNode.name}: node IP ${s.realNode.nodeIp} on bridge ${s.realNode.bridge}, pods ${s.realNode.podSubnet}`,
        `  import an image: ctr --address ${s.realNode.containerdAddress} -n k8s.io images import <docker-archive.tar>`,
      ]
    : [];
  return [
    `local cluster is up (${s.node ?? 'kwok'} node): ${s.server}`,
    ...node,
    `  ${s.kubectl} --kubeconfig ${s.kubeconfig} get nodes`,
    `  export KUBECONFIG=${s.kubeconfig}   # for any kubectl >= 1.33`,
    `component logs: ${join(s.dir, 'logs')}; stop with: npm run cluster:down`,
  ].join('\n');
}

async function up(): Promise<void> {
  const node = nodeKindArg();
  const running = readState();
  if (running) {
    if ((running.node ?? 'kwok') !== node) {
      throw new Error(
        `a local cluster with a ${running.node ?? 'kwok'} node is already up: npm run cluster:down first`,
      );
    }
    console.log(kubectlHint(running));
    return;
  }
  await mkdir(runDir, { recursive: true });
  await rm(stateFile, { force: true });
  const out = openSync(serveLog, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', ...process.argv.slice(3)], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  console.error(`starting (builds the binaries on first use; progress in ${serveLog})`);
  const deadline = Date.now() + 60 * 60_000;
  while (Date.now() < deadline) {
    const state = readState();
    if (state) {
      console.log(kubectlHint(state));
      return;
    }
    if (child.exitCode !== null) break;
    try {
      process.kill(child.pid ?? -1, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.error(readFileSync(serveLog, 'utf8').split('\n').slice(-30).join('\n'));
  throw new Error('local cluster did not start');
}

async function serve(): Promise<void> {
  const node = nodeKindArg();
  const images = node === 'real' && process.argv.includes('--images') ? await projectImageArchives() : undefined;
  const cluster = await startCluster({ dir: join(runDir, 'cluster'), node, images });
  const state: State = {
    pid: process.pid,
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    dir: cluster.dir,
    kubectl: cluster.binaries.kubectl,
    node: cluster.node,
    realNode: cluster.realNode,
  };
  await writeFile(stateFile, JSON.stringify(state, null, 2));
  const shutdown = async () => {
    await rm(stateFile, { force: true });
    try {
      await cluster.stop();
      process.exit(0);
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  setInterval(() => {}, 1 << 30);
}

/** Every image hack/images builds (cached by input hash), as docker-archives to import into the real node. */
async function projectImageArchives(): Promise<string[]> {
  const { ensureImages } = await import('../images/build.ts');
  return Object.values(await ensureImages()).map((i) => i.archive);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    console.log('local cluster is not running');
    return;
  }
  process.kill(state.pid, 'SIGTERM');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(state.pid, 0);
    } catch {
      console.log('local cluster stopped; nothing left behind');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(state.pid, 'SIGKILL');
  console.log('local cluster killed');
}

const verb = process.argv[2];
const actions: Record<string, () => Promise<void>> = {
  up,
  down,
  serve,
  status: async () => {
    const s = readState();
    console.log(s ? kubectlHint(s) : 'local cluster is not running');
  },
};
const action = verb ? actions[verb] : undefined;
if (!action) {
  console.error('usage: cli.ts up [--node=kwok|real [--images]] | down | status');
  process.exit(2);
}
try {
  await action();
} catch (err) {
  console.error(`cluster ${verb}: ${(err as Error).message}`);
  process.exit(1);
}
