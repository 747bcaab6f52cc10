import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinaries } from '../../hack/cluster/binaries.ts';

/** The real kubeseal v0.36.0 (built once from its Go module and cached), run offline: it never needs a cluster here. */
export async function kubesealBinary(): Promise<string> {
  return (await ensureBinaries(['kubeseal'])).kubeseal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program with optional stdin; rejects with its stderr in the message when it exits non-zero. */
export function run(
  binary: string,
  args: string[],
  input?: string | Buffer,
  env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { maxBuffer: 64 << 20, env: env ?? process.env }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${binary} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr });
    });
    // A program that does not read stdin (ssh-keygen -f FILE) may exit before we finish writing: EPIPE then says
    // nothing about the result, which the exit status and output above decide.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin?.end(input ?? '');
  });
}

// No kubeconfig: proves kubeseal works purely from the files we hand it, and that it cannot reach any cluster.
const OFFLINE_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  KUBECONFIG: '/nonexistent/kubeconfig',
};

export function kubeseal(binary: string, args: string[], input?: string | Buffer): Promise<RunResult> {
  return run(binary, args, input, OFFLINE_ENV);
}

export interface OpensslKeyPair {
  dir: string;
  keyPath: string;
  certPath: string;
  certPem: string;
  keyPem: string;
  cleanup: () => Promise<void>;
}

/** An RSA key pair and self-signed cert made by openssl, exactly as sealed-secrets' docs make a bring-your-own key. */
export async function opensslKeyPair(bits = 4096): Promise<OpensslKeyPair> {
  const dir = await mkdtemp(join(tmpdir(), 'warroom-sealed-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    `rsa:${bits}`,
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=sealed-secret',
  ]);
  return {
    dir,
    keyPath,
    certPath,
    certPem: await readFile(certPath, 'utf8'),
    keyPem: await readFile(keyPath, 'utf8'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
