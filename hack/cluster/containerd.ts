import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CNI_BIN_DIR, CNI_NETWORK_NAME } from './cni.ts';
import { run } from './exec.ts';
import { type ManagedProcess, startProcess, waitFor } from './processes.ts';

/** The kubelet's containers live in containerd's `k8s.io` namespace. */
const NS = 'k8s.io';

export interface Containerd {
  process: ManagedProcess;
  /** gRPC socket (the kubelet's container runtime endpoint is `unix://` + this). */
  address: string;
  dir: string;
}

/**
 * The run's own containerd config: every path under `dir` (root, state, sockets, runc state, CRI network namespaces),
 * plus the settings this machine kind needs (see ../shared/notes/real-node.md): `restrict_oom_score_adj` because root
 * here lacks CAP_SYS_RESOURCE (without it every sandbox fails with "can't get final child's PID from pipe"), cgroupfs,
 * Debian's CNI plugin dir, the run's CNI conf dir, and a local sandbox (pause) image since no registry can be reached.
 * Sections not written keep containerd's defaults (it decodes the file over its default config).
 */
export function renderContainerdConfig(dir: string, cniConfDir: string, sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = ${q(join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${q(join(dir, 'containerd.sock.ttrpc'))}

# The legacy v1 runtime cannot be disabled (the tasks service needs it); keep its runc state here too.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = ${q(join(dir, 'runc-v1'))}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(dir, 'opt'))}

[${cri}]
  sandbox_image = ${q(sandboxImage)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${q(join(dir, 'runc'))}

  [${cri}.cni]
    bin_dir = ${q(CNI_BIN_DIR)}
    conf_dir = ${q(cniConfDir)}
    max_conf_num = 1
`;
}

function q(s: string): string {
  return JSON.stringify(s);
}

export async function startContainerd(
  dir: string,
  cniConfDir: string,
  sandboxImage: string,
  logDir: string,
): Promise<Containerd> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'config.toml');
  await writeFile(config, renderContainerdConfig(dir, cniConfDir, sandboxImage));
  const address = join(dir, 'containerd.sock');
  const process = startProcess('containerd', 'containerd', ['--config', config, '--log-level', 'warn'], logDir);
  const c = { process, address, dir };
  await waitFor('containerd', async () => (await ctr(c, ['version'], { allowFail: true })).code === 0, {
    timeoutMs: 30_000,
    intervalMs: 100,
    process,
  });
  return c;
}

export function ctr(
  c: Pick<Containerd, 'address'>,
  args: string[],
  opts: { allowFail?: boolean; timeoutMs?: number } = {},
) {
  return run('ctr', ['--address', c.address, '--namespace', NS, ...args], opts);
}

/** Imports a docker-archive or OCI tar (its refs come from the archive) into the kubelet's namespace. */
export async function importImage(c: Pick<Containerd, 'address'>, archive: string): Promise<void> {
  await ctr(c, ['images', 'import', archive], { timeoutMs: 300_000 });
}

/** The refs of the images in the kubelet's namespace. */
export async function listImages(c: Pick<Containerd, 'address'>): Promise<string[]> {
  const out = await ctr(c, ['images', 'ls', '-q']);
  return out.stdout.split('\n').filter(Boolean);
}

/** IDs of every container (pod sandboxes included) in the kubelet's namespace. */
export async function listContainers(c: Pick<Containerd, 'address'>): Promise<string[]> {
  const out = await ctr(c, ['containers', 'ls', '-q'], { allowFail: true });
  return out.stdout.split('\n').filter(Boolean);
}

/**
 * Kills every task and deletes every container of the kubelet's namespace, straight through containerd (the kubelet
 * is already stopped, so nothing restarts them). A task's shim exits once its task is deleted. Bounded: a few passes,
 * and the caller still sweeps mounts and processes afterwards.
 */
export async function removeAllContainers(c: Pick<Containerd, 'address'>): Promise<void> {
  for (let pass = 0; pass < 3; pass++) {
    const ids = await listContainers(c);
    if (ids.length === 0) return;
    await Promise.all(ids.map((id) => ctr(c, ['tasks', 'kill', '--signal', 'SIGKILL', id], { allowFail: true })));
    await Promise.all(
      ids.map(async (id) => {
        await ctr(c, ['tasks', 'delete', '--force', id], { allowFail: true, timeoutMs: 15_000 });
        await ctr(c, ['containers', 'delete', id], { allowFail: true, timeoutMs: 15_000 });
      }),
    );
  }
}

/** containerd 1.6 puts shim sockets here whatever its state dir. */
const SHIM_SOCKET_DIR = '/run/containerd/s';

/** libcni's result cache: containerd 1.6 cannot move it, and only a CNI DEL (skipped when we kill pods) cleans it. */
export const CNI_CACHE_DIR = '/var/lib/cni';

/**
 * What the runtime leaves outside the run's dir when containers are removed without the kubelet's teardown:
 * libcni's cached results of those containers, the empty `k8s.io` cgroup parents containerd made in every cgroup v1
 * hierarchy, and the empty shim socket dir (`/run/containerd/s` is fixed in containerd 1.6). Only empty directories
 * are removed, so anything another user put there stays.
 */
export async function removeRuntimeLeftovers(containerIds: string[]): Promise<void> {
  const results = `${CNI_CACHE_DIR}/results`;
  const cached = await readdir(results).catch(() => [] as string[]);
  // The network's own entries name their sandbox: with one real node at a time, every one of them is a dead run's.
  const ids = new Set(containerIds);
  for (const f of cached) {
    const m = new RegExp(`^${CNI_NETWORK_NAME}-([0-9a-f]{64})-`).exec(f);
    if (m?.[1]) ids.add(m[1]);
  }
  for (const f of cached) {
    if ([...ids].some((id) => f.includes(`-${id}-`))) await rm(`${results}/${f}`, { force: true });
  }
  // A SIGKILLed shim leaves its socket behind: drop the ones no live process has bound (absent from /proc/net/unix).
  // Listed before the bound ones are read: a shim starting in between (bind makes the file) is then seen bound.
  const sockets = await readdir(SHIM_SOCKET_DIR).catch(() => [] as string[]);
  const bound = await boundUnixSockets();
  for (const f of sockets) {
    const path = `${SHIM_SOCKET_DIR}/${f}`;
    if (!bound.has(path)) await rm(path, { force: true });
  }
  for (const d of [results, CNI_CACHE_DIR, SHIM_SOCKET_DIR, '/run/containerd']) await rmdir(d).catch(() => {});
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    const parent = `/sys/fs/cgroup/${hierarchy}/k8s.io`;
    const children = await readdir(parent, { withFileTypes: true }).catch(() => []);
    for (const c of children) if (c.isDirectory()) await rmdir(`${parent}/${c.name}`).catch(() => {});
    await rmdir(parent).catch(() => {});
  }
}

/**
 * IDs of the containers whose tasks a containerd rooted at `dir` started, read from its state dir on disk: works when
 * that containerd is gone (a SIGKILLed run), when `ctr` can no longer answer.
 */
export async function taskIdsOnDisk(dir: string): Promise<string[]> {
  const tasks = join(dir, 'state', 'io.containerd.runtime.v2.task', NS);
  return (await readdir(tasks).catch(() => [] as string[])).filter((id) => /^[0-9a-f]{64}$/.test(id));
}

/** The paths of the unix sockets some live process has bound. */
export async function boundUnixSockets(): Promise<Set<string>> {
  return new Set(
    (await readFile('/proc/net/unix', 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[7])
      .filter((p): p is string => !!p),
  );
}
