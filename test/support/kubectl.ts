import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestCluster } from '../cluster/index.ts';

const run = promisify(execFile);

/** The real kubectl v1.34 built with the cluster: tests check outcomes through it, independently of src/kube. */
export function kubectl(cluster: TestCluster) {
  const base = ['--kubeconfig', cluster.kubeconfig];
  return kubectlClient(async (args, input) => {
    const p = run(cluster.binaries.kubectl, [...base, ...args], { maxBuffer: 64 << 20 });
    if (input !== undefined) {
      p.child.stdin?.end(input);
    }
    const { stdout } = await p;
    return stdout;
  });
}

export type KubectlClient = ReturnType<typeof kubectlClient>;

/** apply/getJson over any way of running kubectl with a cluster's kubeconfig (the harness's cluster, kind's). */
export function kubectlClient(exec: (args: string[], input?: string) => Promise<string>) {
  return {
    exec,
    apply: (manifest: unknown) => exec(['apply', '-f', '-'], JSON.stringify(manifest)),
    getJson: async <T = Record<string, unknown>>(args: string[]): Promise<T | undefined> => {
      try {
        return JSON.parse(await exec(['get', ...args, '-o', 'json'])) as T;
      } catch (err) {
        if (String((err as { stderr?: string }).stderr ?? err).includes('NotFound')) return undefined;
        throw err;
      }
    },
  };
}

/** Polls until `fn` returns a truthy value; bounded by `timeoutMs`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
