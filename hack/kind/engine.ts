// The Docker engine kind talks to. Online: the machine's own (whatever `docker info` reaches). Offline (no engine
// reachable, Linux, root): Debian's dockerd started by hand with roots of its own, changing nothing on the host's
// network (no iptables rules, no docker0, no IP forwarding; host ports through docker-proxy), its capability-filtering
// runc wrapper as default runtime, stopped by the PID in its pidfile. Everything it made is removed by stopEngine.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../cluster/cache-dir.ts';
import { run } from '../cluster/exec.ts';
import { processesUsing } from '../cluster/host-cleanup.ts';

const PACKAGES_SCRIPT = fileURLToPath(new URL('./engine-packages.sh', import.meta.url));
const RUNC_WRAPPER = fileURLToPath(new URL('./runc-wrapper.ts', import.meta.url));

/** The engine's runtime files: socket, pidfile, exec root, the runc launcher, its log. */
export const ENGINE_RUN_DIR = '/run/warroom-kind';
/** Its cgroup parent: every container's cgroup lives under it, so stopEngine knows exactly which ones are ours. */
export const ENGINE_CGROUP_PARENT = 'warroom-kind';

export type Mode = 'online' | 'offline';

export interface Engine {
  mode: Mode;
  /** DOCKER_HOST for docker and kind: unset online (the machine's default), our socket offline. */
  dockerHost?: string;
  /** dockerd's PID (offline only). */
  pid?: number;
  /** The environment docker/kind calls use. */
  env: NodeJS.ProcessEnv;
}

/** The engine's data root: kept between runs, so the node image and its layers are a warm cache. */
export function engineDataRoot(): string {
  return cacheDir('kind', 'docker');
}

const socket = () => join(ENGINE_RUN_DIR, 'docker.sock');
const pidfile = () => join(ENGINE_RUN_DIR, 'dockerd.pid');

/** Which mode this machine runs kind in, and why; offline needs Linux and root to start its own engine. */
export function chooseMode(): { mode: Mode; why: string } | { mode: undefined; why: string } {
  if (spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0) {
    return { mode: 'online', why: 'a Docker engine answers `docker info`' };
  }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    return {
      mode: undefined,
      why: 'no Docker engine is reachable, and starting one by hand needs Linux and root: start Docker and run again',
    };
  }
  return { mode: 'offline', why: 'no Docker engine is reachable: starting Debian dockerd by hand (Linux, root)' };
}

export function offlineEngineEnv(): NodeJS.ProcessEnv {
  // The legacy builder: BuildKit would fetch its `# syntax=` frontend from a registry.
  return { ...process.env, DOCKER_HOST: `unix://${socket()}`, DOCKER_BUILDKIT: '0' };
}

/** The running offline engine's PID, if its pidfile names a live dockerd. */
export async function runningEnginePid(): Promise<number | undefined> {
  const pid = Number((await readFile(pidfile(), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0')[0]?.endsWith('dockerd') ? pid : undefined;
}

/**
 * Starts (or finds) the offline engine and waits until it answers. Debian's docker.io is installed first when missing
 * (with services kept from starting).
 */
export async function startOfflineEngine(log: (m: string) => void): Promise<Engine> {
  const env = offlineEngineEnv();
  const existing = await runningEnginePid();
  if (existing) {
    log(`offline engine already running (dockerd pid ${existing})`);
    return { mode: 'offline', dockerHost: env.DOCKER_HOST, pid: existing, env };
  }
  const installed = spawnSync('bash', [PACKAGES_SCRIPT], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (installed.status !== 0) throw new Error(`${PACKAGES_SCRIPT} failed (${installed.status})`);

  await mkdir(ENGINE_RUN_DIR, { recursive: true });
  await mkdir(engineDataRoot(), { recursive: true });
  // kind mounts the host's /lib/modules into its nodes; docker creates it when absent, and stopEngine removes it then.
  if (!existsSync('/lib/modules')) await writeFile(join(ENGINE_RUN_DIR, 'lib-modules-created'), '');
  const launcher = join(ENGINE_RUN_DIR, 'runc');
  await writeFile(
    launcher,
    `#!/bin/sh\n"${process.execPath}" "${RUNC_WRAPPER}" "$@" || exit 1\nexec /usr/sbin/runc "$@"\n`,
    { mode: 0o755 },
  );
  const config = join(ENGINE_RUN_DIR, 'daemon.json');
  await writeFile(config, '{}\n');
  const args = [
    `--host=unix://${socket()}`,
    `--config-file=${config}`,
    `--data-root=${engineDataRoot()}`,
    `--exec-root=${join(ENGINE_RUN_DIR, 'exec')}`,
    `--pidfile=${pidfile()}`,
    `--cgroup-parent=${ENGINE_CGROUP_PARENT}`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--bridge=none',
    '--userland-proxy=true',
    '--userland-proxy-path=/usr/sbin/docker-proxy',
    '--storage-driver=overlay2',
    `--add-runtime=warroom-runc=${launcher}`,
    '--default-runtime=warroom-runc',
  ];
  const out = openSync(join(ENGINE_RUN_DIR, 'dockerd.log'), 'a');
  // Detached: the engine outlives `npm run kind:up`; kind:down (or the test) stops it by its pidfile's PID.
  const child = spawn('/usr/sbin/dockerd', args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (spawnSync('docker', ['info'], { env, stdio: 'ignore', timeout: 10_000 }).status === 0) {
      const pid = await runningEnginePid();
      log(`offline engine up: dockerd pid ${pid}, ${env.DOCKER_HOST}, data root ${engineDataRoot()}`);
      return { mode: 'offline', dockerHost: env.DOCKER_HOST, pid: pid ?? child.pid, env };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const tail = (await readFile(join(ENGINE_RUN_DIR, 'dockerd.log'), 'utf8').catch(() => '')).split('\n').slice(-30);
  throw new Error(`dockerd did not come up; the end of ${ENGINE_RUN_DIR}/dockerd.log:\n${tail.join('\n')}`);
}

/**
 * Stops the offline engine by its PID and removes what it made: its containers (none should be left), the `kind`
 * network, bridge links it created, its cgroups, its runtime dir; /lib/modules when a `docker run -v` created it.
 */
export async function stopOfflineEngine(log: (m: string) => void): Promise<void> {
  const pid = await runningEnginePid();
  const env = offlineEngineEnv();
  if (pid) {
    const left = spawnSync('docker', ['ps', '-aq'], { env, encoding: 'utf8', timeout: 30_000 }).stdout?.trim();
    if (left) {
      log(`removing containers left in the engine: ${left.split('\n').join(' ')}`);
      spawnSync('docker', ['rm', '-f', ...left.split('\n')], { env, stdio: 'ignore', timeout: 120_000 });
    }
    spawnSync('docker', ['network', 'prune', '-f'], { env, stdio: 'ignore', timeout: 60_000 });
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    if (existsSync(`/proc/${pid}`)) {
      log(`dockerd ${pid} ignored SIGTERM for 60 s: SIGKILL`);
      process.kill(pid, 'SIGKILL');
    }
    log(`offline engine stopped (dockerd pid ${pid})`);
  }
  await removeEngineLeftovers();
}

/**
 * After a dockerd that died holding the lock (SIGKILL, a crash): its containerd and shims (their command lines name
 * our exec root), the containers (everything in our cgroup parent: the kind node's systemd, kubelet and pods) and
 * its orphaned docker-proxies outlive it. They are killed, then its links, cgroups, mounts and runtime dir removed.
 */
export async function reapStaleEngine(log: (m: string) => void): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pids = new Set<number>();
    for (const dir of await engineCgroups()) for (const pid of await cgroupProcs(dir)) pids.add(pid);
    for (const p of await processesUsing(ENGINE_RUN_DIR)) pids.add(p.pid);
    for (const pid of await orphanedDockerProxies()) pids.add(pid);
    pids.delete(process.pid);
    if (pids.size === 0) break;
    if (attempt === 0) log(`killing ${pids.size} processes the dead engine left`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await removeEngineLeftovers();
}

/** Every PID in a cgroup and the cgroups below it. */
async function cgroupProcs(dir: string): Promise<number[]> {
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map(Number);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) pids.push(...(await cgroupProcs(join(dir, e.name))));
  }
  return pids;
}

/** docker-proxy processes whose dockerd is gone (re-parented): only a dead engine leaves those. */
async function orphanedDockerProxies(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.startsWith('/usr/sbin/docker-proxy\0')) continue;
    const ppid = /^PPid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1];
    const parent = ppid ? (await readFile(`/proc/${ppid}/comm`, 'utf8').catch(() => '')).trim() : '';
    if (parent !== 'dockerd') found.push(pid);
  }
  return found;
}

/** Links docker made for user-defined networks (`br-<12 hex>`), which a killed dockerd leaves behind. */
export async function engineBridges(): Promise<string[]> {
  const names = await readdir('/sys/class/net').catch(() => [] as string[]);
  return names.filter((n) => /^br-[0-9a-f]{12}$/.test(n));
}

/** Cgroup directories under our cgroup parent, in every hierarchy. */
export async function engineCgroups(): Promise<string[]> {
  const found: string[] = [];
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    const dir = join('/sys/fs/cgroup', hierarchy, ENGINE_CGROUP_PARENT);
    if (existsSync(dir)) found.push(dir);
  }
  return found;
}

async function removeCgroupTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  }
  await rmdir(dir).catch(() => undefined);
}

async function removeEngineLeftovers(): Promise<void> {
  for (const link of await engineBridges()) await run('ip', ['link', 'delete', link], { allowFail: true });
  for (const dir of await engineCgroups()) await removeCgroupTree(dir);
  // The engine's mounts (overlay2 layers, netns files) go with its exec root.
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(`${ENGINE_RUN_DIR}/`) || p.startsWith(`${engineDataRoot()}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m], { allowFail: true });
  if (existsSync(join(ENGINE_RUN_DIR, 'lib-modules-created'))) await rmdir('/lib/modules').catch(() => undefined);
  await rm(ENGINE_RUN_DIR, { recursive: true, force: true });
}
