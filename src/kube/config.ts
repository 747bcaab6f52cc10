import { KubeConfig } from '@kubernetes/client-node';

/**
 * Loads credentials the way kubectl does: an explicit path, then $KUBECONFIG / ~/.kube/config, then the in-cluster
 * service account. Returns undefined when none is configured, so the caller can decide what that means.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured (kubeconfig or in-cluster)');
  return kc;
}

export type { KubeConfig };
