// npm start — run warroom. With a cluster configured (KUBECONFIG, ~/.kube/config or in-cluster) the operator runs
// against it; with none, the embedded local control plane starts first, the CRD and examples are applied, and the
// operator runs against that. Ctrl-C stops everything and leaves nothing behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './cluster/cache-dir.ts';
import { startCluster } from './cluster/local-cluster.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const configured =
  process.env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config')) || process.env.KUBERNETES_SERVICE_HOST;
const passThrough = process.argv.slice(2);

let stopCluster: (() => Promise<void>) | undefined;
const env = { ...process.env };
const localFlags: string[] = [];
if (!configured && !passThrough.some((a) => a.startsWith('--kubeconfig'))) {
  console.error('[warroom] no cluster configured: starting the embedded local control plane');
  const cluster = await startCluster();
  stopCluster = cluster.stop;
  env.KUBECONFIG = cluster.kubeconfig;
  // kwok runs no pods (so no recorder and no sealed-secrets controller to seal for); evidence and the signing key live
  // beside the throwaway cluster, and its secrets are plain Secrets in its throwaway etcd. A real cluster gets the
  // defaults: sealed secrets, evidence required.
  const state = cacheDir('run', 'local-operator');
  localFlags.push(
    '--secrets=plain',
    '--evidence-policy=skip-unreachable',
    `--evidence-dir=${join(state, 'evidence')}`,
    `--signing-key=${join(state, 'signing-key.pem')}`,
  );
  const kubectl = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(cluster.binaries.kubectl, ['--kubeconfig', cluster.kubeconfig, ...args], { stdio: 'inherit' });
      p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`kubectl ${args.join(' ')} exited ${c}`))));
    });
  await kubectl(['apply', '-f', join(root, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', 'crd/incidentchannels.warroom.dev', '--timeout=60s']);
  await kubectl(['create', 'namespace', 'warroom-system']);
  await kubectl(['apply', '-f', join(root, 'examples', 'minimal.yaml')]);
  console.error(
    [
      '[warroom] local cluster ready; the minimal example channel is applied. In another terminal:',
      `  ${cluster.binaries.kubectl} --kubeconfig ${cluster.kubeconfig} get incidentchannels,namespaces`,
    ].join('\n'),
  );
}

// On a workstation the status API is for this machine: loopback, unless the address is asked for (a flag after these
// wins; the environment variable is left to speak for itself). The operator's own default, all interfaces, is for
// its pod, where the Service and the kubelet's probes reach it.
const loopbackUnlessAsked = process.env.WARROOM_HTTP_ADDRESS ? [] : ['--http-address=127.0.0.1'];
const operatorArgv = [
  process.execPath,
  join(root, 'src', 'main.ts'),
  'operator',
  '--leader-elect=false',
  '--http-port=0',
  ...loopbackUnlessAsked,
  ...localFlags,
  ...passThrough,
];
// With the embedded cluster, the operator dies with this process even when it is SIGKILLed, as the cluster's own
// processes do (setpriv is already needed for them): an operator left behind a cluster that is gone only logs errors.
const [command = process.execPath, ...args] = stopCluster
  ? ['setpriv', '--pdeathsig', 'KILL', '--', ...operatorArgv]
  : operatorArgv;
const operator = spawn(command, args, { stdio: 'inherit', env });
const stop = () => operator.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
const code = await new Promise<number>((resolve) => operator.on('exit', (c) => resolve(c ?? 0)));
await stopCluster?.();
process.exit(code);
