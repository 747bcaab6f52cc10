import { readdir, readFile, readlink } from 'node:fs/promises';
import { run } from './exec.ts';

/** Decodes the octal escapes (\040 for a space…) of /proc/self/mountinfo paths. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points at or below `dir`, deepest first (the order they must be unmounted in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescapeMountPath)
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Unmounts everything below `dir` (container rootfs overlays, pod volumes, the CRI's network namespace files).
 * A mount still busy is retried a few times, then detached lazily so the run never leaves one behind.
 */
export async function unmountAllUnder(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) {
      const lazy = attempt >= 3;
      await run('umount', lazy ? ['-l', p] : [p], { allowFail: true, timeoutMs: 10_000 });
    }
    if (attempt < 4) await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount ${left.length} mounts under ${dir}: ${left.join(', ')}`);
}

export interface HostProcess {
  pid: number;
  cmdline: string;
}

/**
 * Processes tied to `dir`: their command line names it (containerd shims carry the run's socket path), their working
 * directory lies in it, or they sit in the cgroup of one of `containerIds` (a container's processes live in their own
 * mount namespace, so neither their root nor their paths name the run's dir; containerd puts them in
 * `<hierarchy>/k8s.io/<container id>`).
 */
export async function processesUsing(dir: string, containerIds: string[] = []): Promise<HostProcess[]> {
  const found: HostProcess[] = [];
  const ids = new Set(containerIds);
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim();
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      const cgroups = ids.size > 0 ? await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '') : '';
      const inContainer = [...cgroups.matchAll(/\/k8s\.io\/([0-9a-f]{64})$/gm)].some((m) => ids.has(m[1] ?? ''));
      if (cmdline.includes(dir) || cwd.startsWith(dir) || inContainer) found.push({ pid, cmdline });
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

/**
 * Whether every thread of `pid` has exited (or the process is gone). A SIGKILLed multi-threaded process (a Go shim)
 * can lose its command line and working directory, when its leader thread exits, while other threads still hold its
 * files open, its sockets bound among them: a process that merely vanished from processesUsing() may not be done yet.
 */
export async function hasExited(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => undefined);
  if (!tasks) return true;
  for (const tid of tasks) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    // The state is the field after the command name, which is in parentheses and may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
    if (state !== '' && state !== 'Z' && state !== 'X') return false;
  }
  return true;
}

/**
 * SIGKILLs every process tied to `dir` (or in one of `containerIds`) and waits (bounded) until none is left and every
 * one it killed has fully exited, so what they held (a shim's bound socket) is released before the caller looks.
 */
export async function killProcessesUsing(dir: string, containerIds: string[] = []): Promise<void> {
  const killed = new Set<number>();
  for (let attempt = 0; attempt < 50; attempt++) {
    const procs = await processesUsing(dir, containerIds);
    for (const p of procs) {
      killed.add(p.pid);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const pid of killed) if (await hasExited(pid)) killed.delete(pid);
    if (procs.length === 0 && killed.size === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const TABLES = ['filter', 'nat', 'mangle', 'raw'];

/** Splits one iptables-save rule line into argv, honouring the double quotes around comments. */
function splitRule(line: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line))
    args.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : (m[2] ?? ''));
  return args;
}

/** `KUBE-*` chains (kube-proxy's and the kubelet's) per table, for IPv4 and IPv6. */
export async function kubeChains(): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of TABLES) {
      const save = await run(`${tool}-save`, ['-t', table], { allowFail: true });
      for (const line of save.stdout.split('\n')) {
        const m = /^:(KUBE-\S+)/.exec(line);
        if (m) out.push(`${tool}/${table}/${m[1]}`);
      }
    }
  }
  return out;
}

/**
 * Removes every rule jumping to a `KUBE-*` chain from the built-in chains, then flushes and deletes the `KUBE-*`
 * chains, in every table, for IPv4 and IPv6. Run after `kube-proxy --cleanup`, it also catches the kubelet's canary
 * and hint chains. Only one real-node cluster runs at a time (see real-node-lock.ts), so these chains are ours.
 */
export async function flushKubeChains(): Promise<void> {
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of TABLES) {
      const save = await run(`${tool}-save`, ['-t', table], { allowFail: true });
      if (save.code !== 0) continue;
      const chains: string[] = [];
      for (const line of save.stdout.split('\n')) {
        const chain = /^:(KUBE-\S+)/.exec(line)?.[1];
        if (chain) chains.push(chain);
        const rule = /^-A (\S+) (.*-j KUBE-.*)$/.exec(line);
        if (rule?.[1] && !rule[1].startsWith('KUBE-')) {
          await run(tool, ['-t', table, '-D', rule[1], ...splitRule(rule[2] ?? '')], { allowFail: true });
        }
      }
      for (const c of chains) await run(tool, ['-t', table, '-F', c], { allowFail: true });
      for (const c of chains) await run(tool, ['-t', table, '-X', c], { allowFail: true });
    }
  }
}
