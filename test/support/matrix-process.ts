import { type ChildProcess, spawn } from 'node:child_process';

/** A real peer process whose output is kept (bounded) for assertions and failure messages. */
export interface PeerProcess {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  exited(): boolean;
}

const MAX_OUTPUT = 2_000_000;

export function startPeerProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): PeerProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    if (output.length < MAX_OUTPUT) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let hasExited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      resolve();
    });
    child.once('error', (error) => {
      output += `\n[spawn error] ${error.message}\n`;
      hasExited = true;
      resolve();
    });
  });
  return {
    child,
    output: () => output,
    exited: () => hasExited,
    async stop(graceMs = 10_000) {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Polls `check` until it returns true; fails fast when the peer died, with its output tail. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  peer: PeerProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (peer.exited()) throw new Error(`${what}: process exited\n${peer.output().slice(-4000)}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms\n${peer.output().slice(-4000)}`);
}
