import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Finds credentials the way kubectl does — an explicit path, then $KUBECONFIG, then ~/.kube/config, then the in-cluster
 * service account — and fails with a clear message when there are none. (client-node alone would silently fall back
 * to http://localhost:8080.)
 */
export function loadKubeConfig(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const home = join(homedir(), '.kube', 'config');
  if (path) kc.loadFromFile(path);
  else if (env.KUBECONFIG) kc.loadFromDefault();
  else if (existsSync(home)) kc.loadFromFile(home);
  else if (env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) kc.loadFromCluster();
  else {
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
  }
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster/context');
  return kc;
}

export type { KubeConfig };
