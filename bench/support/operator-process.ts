// The operator as a child process of a bench, run the way the image runs it: src/ built to JavaScript as the
// Dockerfile's build stage does (hack/build-dist.ts), with the runtime environment the Dockerfile's runtime stage
// sets, so the bench measures what production runs.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildDist } from '../../hack/build-dist.ts';

/** NODE_OPTIONS and glibc malloc settings the image's runtime stage sets: production runs with them, so do we. */
export function runtimeEnvOfImage(): Record<string, string> {
  const dockerfile = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8').replace(
    /\\\n/g,
    ' ',
  );
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => /^ENV\s/.test(l))) {
    for (const m of line.matchAll(/\b(NODE_OPTIONS|MALLOC_[A-Z_]+)=("[^"]*"|\S+)/g)) {
      if (m[1] && m[2]) env[m[1]] = m[2].replace(/^"|"$/g, '');
    }
  }
  return env;
}

/**
 * `node <nodeFlags> dist/main.js operator <args>`, dist/ built from src/ first (BENCH_OPERATOR_MAIN=/other/checkout/
 * dist/main.js measures another version with the same bench, before/after); setpriv --pdeathsig: an interrupted bench
 * takes its operator along.
 */
export function spawnOperator(
  nodeFlags: string[],
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): ChildProcess {
  buildDist(
    fileURLToPath(new URL('../../src', import.meta.url)),
    fileURLToPath(new URL('../../dist', import.meta.url)),
  );
  const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
  return spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      '--',
      process.execPath,
      ...nodeFlags,
      process.env.BENCH_OPERATOR_MAIN ?? main,
      'operator',
      ...args,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: { ...process.env, ...(opts.env ?? runtimeEnvOfImage()) },
    },
  );
}
