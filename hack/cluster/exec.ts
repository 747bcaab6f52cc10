import { execFile } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a short host command (ip, iptables, ctr, umount…) with a deadline and returns its output. Throws with the
 * command and its stderr on failure unless `allowFail`, because the node's set-up and clean-up read as a list of such
 * commands and each failure has to say which one broke.
 */
export function run(
  command: string,
  args: string[],
  opts: { timeoutMs?: number; allowFail?: boolean; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && !opts.allowFail) {
          reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr.trim() || err.message}`));
          return;
        }
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
