// The sealed-secrets controller as clusters install it: its upstream chart, taken from the same pinned Go module the
// kubeseal and controller builds use, pointed at the controller image built here. Both harnesses that run the chart
// (the real node's war room, kind offline) install it through this one definition.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Same version as SEALED_SECRETS_VERSION in hack/cluster/build-binaries.sh. */
export const SEALED_SECRETS_MODULE = 'github.com/bitnami-labs/sealed-secrets@v0.36.0';

/** `localhost/warroom/x:tag` → registry `localhost`, repository `warroom/x`, tag: what Helm charts ask for. */
export function splitImageRef(ref: string): { registry: string; repository: string; tag: string } {
  const m = /^([^/]+)\/(.+):([^:/]+)$/.exec(ref);
  if (!m) throw new Error(`cannot split image ref ${ref}`);
  return { registry: m[1] as string, repository: m[2] as string, tag: m[3] as string };
}

/** `helm install|upgrade --install` arguments after the verb: release, chart, namespace, the local image, --wait. */
export async function sealedSecretsChartArgs(controllerImageRef: string): Promise<string[]> {
  const { stdout } = await run('go', ['mod', 'download', '-json', SEALED_SECRETS_MODULE], {
    env: { ...process.env, GOFLAGS: '-mod=mod' },
    timeout: 300_000,
  });
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!moduleDir) throw new Error(`go mod download ${SEALED_SECRETS_MODULE} gave no directory`);
  const controller = splitImageRef(controllerImageRef);
  return [
    'sealed-secrets',
    join(moduleDir, 'helm/sealed-secrets'),
    '--namespace',
    'kube-system',
    '--set',
    'fullnameOverride=sealed-secrets-controller',
    '--set',
    `image.registry=${controller.registry}`,
    '--set',
    `image.repository=${controller.repository}`,
    '--set',
    `image.tag=${controller.tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--wait',
    '--timeout',
    '3m',
  ];
}
