// npm run cluster:up | cluster:down | cluster:status — a local control plane for humans, kept running in the background.
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './cache-dir.ts';
import { startCluster } from './local-cluster.ts';

const runDir = cacheDir('run', 'local');
const stateFile = join(runDir, 'state.json');
const serveLog = join(runDir, 'serve.log');

interface State {
  pid: number;
  kubeconfig: string;
  server: string;
  dir: string;
  kubectl: string;
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
  return [
    `local cluster is up: ${s.server}`,
    `  ${s.kubectl} --kubeconfig ${s.kubeconfig} get nodes`,
    `  export KUBECONFIG=${s.kubeconfig}   # for any kubectl >= 1.33`,
    `component logs: ${join(s.dir, 'logs')}; stop with: npm run cluster:down`,
  ].join('\n');
}

async function up(): Promise<void> {
  const running = readState();
  if (running) {
    console.log(kubectlHint(running));
    return;
  }
  await mkdir(runDir, { recursive: true });
  await rm(stateFile, { force: true });
  const out = openSync(serveLog, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], {
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
  const cluster = await startCluster({ dir: join(runDir, 'cluster') });
  const state: State = {
    pid: process.pid,
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    dir: cluster.dir,
    kubectl: cluster.binaries.kubectl,
  };
  await writeFile(stateFile, JSON.stringify(state, null, 2));
  const shutdown = async () => {
    await rm(stateFile, { force: true });
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  setInterval(() => {}, 1 << 30);
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
  console.error('usage: cli.ts up|down|status');
  process.exit(2);
}
await action();
