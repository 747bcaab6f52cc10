import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** Every image tool runs bounded: a hung build must fail the run, not stall it (a cold Synapse install is minutes). */
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;

export interface RunOptions {
  cwd?: string;
  /** Appends the command's stdout and stderr here; its tail goes into the error when the command fails. */
  logFile?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion and returns its stdout (also copied to the log file, if any). */
export async function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  log?.write(`\n$ ${command} ${args.join(' ')}\n`);
  // setpriv --pdeathsig: if this process dies, the kernel stops the build too (no orphan buildah holding the lock).
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    log?.write(d);
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
    log?.write(d);
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exitOf(child);
  clearTimeout(timer);
  if (log) await new Promise<void>((resolve) => log.end(resolve));
  if (code !== 0) {
    const tail = options.logFile ? await tailOf(options.logFile) : `${stdout.slice(-4000)}${stderr.slice(-4000)}`;
    const why = code === null ? `was killed after ${timeoutMs / 1000} s` : `exited ${code}`;
    throw new Error(`${command} ${args.slice(0, 3).join(' ')}… ${why}\n${tail}`);
  }
  return stdout;
}

/** Like `run`, but a non-zero exit is an answer (false), not an error: for probes such as "is this image present?". */
export async function succeeds(command: string, args: string[], timeoutMs = 60_000): Promise<boolean> {
  const child = spawn(command, args, { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exitOf(child);
  clearTimeout(timer);
  return code === 0;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (code) => resolve(code));
  });
}

async function tailOf(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Holds an exclusive flock(1) on `file` while `fn` runs, so parallel test files and a human's `npm run images` build
 * one at a time (like hack/cluster/build-binaries.sh). The lock lives in a child `flock` process whose stdin is our
 * pipe: if this process dies, the pipe closes, the child exits and the lock is released.
 */
export async function withFileLock<T>(file: string, waitSeconds: number, fn: () => Promise<T>): Promise<T> {
  const holder = spawn(
    'flock',
    ['--exclusive', '--timeout', String(waitSeconds), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = exitOf(holder);
  const locked = await new Promise<boolean>((resolve) => {
    holder.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  if (!locked) throw new Error(`could not lock ${file} within ${waitSeconds} s (another image build holds it)`);
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await exited;
  }
}
