import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BUILD_SCRIPT = fileURLToPath(new URL('./build-binaries.sh', import.meta.url));

export type Component =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kubelet'
  | 'kube-proxy'
  | 'kwok'
  | 'kubeseal'
  | 'sealed-secrets-controller'
  | 'helm'
  | 'coredns'
  | 'kube-router';

export const CONTROL_PLANE: Component[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
];

/**
 * Builds (once; cached outside the repo) and locates the pinned upstream binaries. The build script's own progress goes
 * to our stderr so a human or CI sees why the first run takes minutes.
 */
export async function ensureBinaries(components: Component[]): Promise<Record<Component, string>> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, ...components], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${BUILD_SCRIPT} ${components.join(' ')} exited ${code}`)),
    );
  });
  const paths = {} as Record<Component, string>;
  for (const line of out.split('\n')) {
    const m = /^([a-z-]+)=(.+)$/.exec(line.trim());
    if (m?.[1] && m[2]) paths[m[1] as Component] = `${m[2]}/${m[1]}`;
  }
  for (const c of components) {
    if (!paths[c]) throw new Error(`build script did not report a path for ${c}`);
  }
  return paths;
}
