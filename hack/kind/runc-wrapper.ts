// dockerd's default runtime in offline mode (hack/kind/engine.ts registers it): removes from the OCI spec the
// capabilities missing from this process's bounding set, then execs the real runc. dockerd 20.10 asks for every
// capability the kernel knows when it starts a --privileged container (every kind node is one), and runc fails with
// "unable to apply caps: operation not permitted" when root itself lacks one (CAP_SYS_RESOURCE on this machine kind).
// The launcher engine.ts writes runs `node runc-wrapper.ts [runc arguments...]` (which only edits the spec files),
// then `exec`s the real runc with the same arguments, so runc keeps the shim as its parent.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Linux capability numbers (include/uapi/linux/capability.h), in order.
const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/** The capabilities a process may hold here: the bounding set of /proc/self/status (hex mask). */
export function boundingSet(status: string): Set<string> {
  const mask = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'}`);
  return new Set(CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n).map((c) => `CAP_${c}`));
}

interface Capabilities {
  [set: string]: string[] | undefined;
}

/** Drops every capability not in `allowed` from each set of an OCI process object; true if it changed anything. */
export function filterProcess(process: { capabilities?: Capabilities } | undefined, allowed: Set<string>): boolean {
  const caps = process?.capabilities;
  if (!caps) return false;
  let changed = false;
  for (const [set, list] of Object.entries(caps)) {
    if (!Array.isArray(list)) continue;
    const kept = list.filter((c) => allowed.has(c));
    if (kept.length !== list.length) {
      caps[set] = kept;
      changed = true;
    }
  }
  return changed;
}

/** The value of `--flag VALUE` or `--flag=VALUE` in runc's arguments. */
function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === name || a === `-${name.slice(2, 3)}`) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

function rewrite(file: string, pick: (doc: Record<string, unknown>) => { capabilities?: Capabilities } | undefined) {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (filterProcess(pick(doc), boundingSet(readFileSync('/proc/self/status', 'utf8')))) {
    writeFileSync(file, JSON.stringify(doc));
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const command = args.find((a) => ['create', 'run', 'exec'].includes(a));
  if (command === 'create' || command === 'run') {
    const bundle = flag(args, '--bundle') ?? process.cwd();
    rewrite(join(bundle, 'config.json'), (doc) => doc.process as { capabilities?: Capabilities });
  } else if (command === 'exec') {
    const processFile = flag(args, '--process');
    if (processFile) rewrite(processFile, (doc) => doc as { capabilities?: Capabilities });
  }
}
