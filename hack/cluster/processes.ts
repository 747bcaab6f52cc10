import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

/** Starts a long-running component with its output in `<logDir>/<name>.log`, so a failure can be diagnosed later. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  logDir: string,
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  // setpriv --pdeathsig: if the harness itself dies (SIGKILL, a crashed test runner), the kernel kills the component
  // too, so no etcd or apiserver outlives the run that started it.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    child.on('error', () => resolve(-1));
  });
  return { name, child, logFile, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(p: ManagedProcess, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** A free TCP port on loopback. The tiny race between close and reuse is acceptable for a test harness. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it resolves true. Fails early, with the tail of the log, when the watched process dies, so a
 * broken flag reads as an error message instead of a timeout.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; process?: ManagedProcess },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (opts.process && opts.process.child.exitCode !== null) {
      throw new Error(
        `${opts.process.name} exited (${opts.process.child.exitCode}) while waiting for ${what}; see ${opts.process.logFile}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${opts.timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
