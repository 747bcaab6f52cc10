// The README's first command, `npm start`, on a machine with no cluster configured: it starts the embedded control
// plane, applies the minimal example, and the operator brings that war room to Ready (kwok simulates its pods) without
// a single reconcile error; Ctrl-C then stops the operator and the cluster and leaves nothing behind.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir } from '../../hack/cluster/cache-dir.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = 'ir-2026-0042'; // examples/minimal.yaml

const children: ChildProcess[] = [];
const homes: string[] = [];
after(async () => {
  // Ctrl-C first, as a human would (it stops the operator and the cluster); SIGKILL only if that did not end it.
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGINT');
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const home of homes) await rm(home, { recursive: true, force: true });
});

/** Polls `check` every 250 ms until it returns a value, at most `ms`; the failure says what was last seen. */
async function within<T>(ms: number, what: string, check: () => Promise<T | undefined>, seen: () => string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} not within ${ms / 1000} s; last seen:\n${seen()}`);
}

/** Processes whose command line names `dir`: the embedded cluster's components (by their kubeconfig or data dir). */
async function processesNaming(dir: string): Promise<{ pid: number; cmdline: string }[]> {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (cmdline.includes(dir)) found.push({ pid: Number(entry), cmdline });
  }
  return found;
}

type Channel = {
  status?: { phase?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
};

/**
 * `npm start [args]` as on a machine with no kubeconfig anywhere (an empty HOME, none of the variables a configured
 * machine or a pod would have); the pinned binaries stay where the test run built them. Resolves once it has printed
 * the kubectl line it tells the human to use.
 */
async function npmStart(args: string[] = []) {
  const home = await mkdtemp(join(tmpdir(), 'warroom-npm-start-home-'));
  homes.push(home);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, WARROOM_CACHE: cacheDir() };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.XDG_CACHE_HOME;
  const proc = spawn(process.execPath, [join(ROOT, 'hack/run.ts'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const tail = () => output.split('\n').slice(-30).join('\n');
  const hint = await within(
    120_000,
    'the kubectl line',
    async () => /^\s+(\S+\/kubectl) --kubeconfig (\S+) get incidentchannels,namespaces$/m.exec(output) ?? undefined,
    tail,
  );
  const [, kubectl = '', kubeconfig = ''] = hint;
  const channel = async () =>
    JSON.parse(
      (
        await run(kubectl, ['--kubeconfig', kubeconfig, 'get', 'incidentchannel', EXAMPLE, '-o', 'json'], {
          encoding: 'utf8',
          timeout: 30_000,
        })
      ).stdout,
    ) as Channel;
  return { proc, kubeconfig, channel, output: () => output, tail };
}

test('npm start with no cluster configured: the minimal example reaches Ready, and Ctrl-C leaves nothing behind', async () => {
  const started = Date.now();
  const { proc, kubeconfig, channel, output, tail } = await npmStart();
  const ready = await within(
    120_000,
    `${EXAMPLE} Ready`,
    async () => {
      const ic = await channel();
      return ic.status?.phase === 'Ready' ? ic : undefined;
    },
    tail,
  );
  const readyAfterS = (Date.now() - started) / 1000;
  const reason = (type: string) => ready.status?.conditions?.find((c) => c.type === type)?.reason;
  assert.equal(reason('SecretsSealed'), 'CreatedPlain', 'no sealed-secrets controller runs on the embedded cluster');
  assert.equal(reason('UsersProvisioned'), 'Completed');
  assert.equal(reason('Recording'), 'RecorderUnreachable', 'kwok runs no recorder, and says so');
  assert.doesNotMatch(output(), /Reconciler error/, 'no reconcile failed on the way (no retry loop)');

  // The status API it started listens on loopback only: a workstation's run is not served to its network.
  const listening = /"url":"http:\/\/([^"]*):(\d+)","msg":"status API listening"/.exec(output());
  const port = Number(listening?.[2]);
  assert.ok(port > 0, 'the status API says where it listens');
  assert.equal(listening?.[1], '127.0.0.1');
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);

  // Ctrl-C: the operator drains, the cluster stops, its temp dir goes, and no process of it is left.
  const clusterDir = dirname(kubeconfig);
  assert.ok(existsSync(clusterDir));
  proc.kill('SIGINT');
  const code = await within(
    90_000,
    'npm start exiting after Ctrl-C',
    async () => proc.exitCode ?? (proc.signalCode ? -1 : undefined),
    tail,
  );
  assert.equal(code, 0, tail());
  assert.ok(!existsSync(clusterDir), `${clusterDir} removed`);
  assert.deepEqual(await processesNaming(clusterDir), [], 'no process of the embedded cluster outlives npm start');
  console.log(
    `npm start: ${EXAMPLE} Ready ${readyAfterS.toFixed(1)} s after the command; Ctrl-C → exit 0, nothing left`,
  );
});

test('npm start -- --secrets=sealed on a cluster without the sealed-secrets CRD: Stalled naming the CRD, no retry loop', async () => {
  // The embedded cluster serves no SealedSecret kind, like any cluster where sealed-secrets was never installed.
  const { proc, channel, output, tail } = await npmStart(['--secrets=sealed']);
  const stalled = await within(
    120_000,
    `${EXAMPLE} Stalled`,
    async () => {
      const ic = await channel();
      return ic.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
    },
    tail,
  );
  assert.equal(stalled.reason, 'SealedSecretsUnavailable');
  assert.match(stalled.message, /does not serve SealedSecrets \(bitnami\.com\/v1alpha1\).*--secrets=plain/);
  // The stall backs off (30 s, then 1 min, …) and is said once: the passes its own writes wake (the finalizer, the
  // status, the new namespace's children) fall inside the backoff and have nothing new to say. Never logged as a
  // reconcile error.
  const said = () => output().match(/does not serve SealedSecrets/g)?.length ?? 0;
  await new Promise((r) => setTimeout(r, 3000)); // the echoes come within ~100 ms
  console.log(`npm start --secrets=sealed: the stall was said ${said()} time(s) in its first 3 s`);
  assert.equal(said(), 1);
  await new Promise((r) => setTimeout(r, 8000));
  assert.equal(said(), 1, 'not said again within the backoff (no retry loop)');
  assert.doesNotMatch(output(), /Reconciler error|404 page not found/);
  proc.kill('SIGINT');
  await within(90_000, 'exit after Ctrl-C', async () => proc.exitCode ?? undefined, tail);
});

test('npm start SIGKILLed: the operator and the embedded cluster go with it', async () => {
  const { proc, kubeconfig, tail } = await npmStart();
  const clusterDir = dirname(kubeconfig);
  // The operator is npm start's child (it takes the kubeconfig from its environment, so its command line names no dir).
  const operatorPid = await within(
    60_000,
    'the operator started',
    async () => {
      for (const entry of await readdir('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
        const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
        if (new RegExp(`^PPid:\\s+${proc.pid}$`, 'm').test(status) && cmdline.includes('\0operator\0')) {
          return Number(entry);
        }
      }
      return undefined;
    },
    tail,
  );
  proc.kill('SIGKILL');
  await within(
    30_000,
    'the operator and every process of the embedded cluster gone',
    async () =>
      !existsSync(`/proc/${operatorPid}`) && (await processesNaming(clusterDir)).length === 0 ? true : undefined,
    () =>
      `still running: ${existsSync(`/proc/${operatorPid}`) ? `the operator (${operatorPid}) ` : ''}cluster processes`,
  );
  // Its temp dir stays (nothing ran to remove it): the next `npm start` makes a new one.
  await rm(clusterDir, { recursive: true, force: true });
});
