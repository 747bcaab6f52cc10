import type { ObjectRef } from './objects.ts';

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

/**
 * The kinds the operator manages. A static table instead of discovery: fewer round trips, no discovery cache to go
 * stale, and an unknown kind is a programming error caught by the first test that builds it.
 */
const RESOURCES: Record<string, ResourceInfo> = {
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'v1/PersistentVolumeClaim': { plural: 'persistentvolumeclaims', namespaced: true },
  'v1/ResourceQuota': { plural: 'resourcequotas', namespaced: true },
  'v1/LimitRange': { plural: 'limitranges', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Event': { plural: 'events', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'batch/v1/Job': { plural: 'jobs', namespaced: true },
  'networking.k8s.io/v1/NetworkPolicy': { plural: 'networkpolicies', namespaced: true },
  'networking.k8s.io/v1/Ingress': { plural: 'ingresses', namespaced: true },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
  'policy/v1/PodDisruptionBudget': { plural: 'poddisruptionbudgets', namespaced: true },
  'coordination.k8s.io/v1/Lease': { plural: 'leases', namespaced: true },
  'events.k8s.io/v1/Event': { plural: 'events', namespaced: true },
  'bitnami.com/v1alpha1/SealedSecret': { plural: 'sealedsecrets', namespaced: true },
  'warroom.dev/v1alpha1/IncidentChannel': { plural: 'incidentchannels', namespaced: false },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { plural: 'customresourcedefinitions', namespaced: false },
};

export function resourceInfo(apiVersion: string, kind: string): ResourceInfo {
  const info = RESOURCES[`${apiVersion}/${kind}`];
  if (!info)
    throw new Error(`warroom does not know the resource for ${apiVersion} ${kind}; add it to src/kube/resources.ts`);
  return info;
}

const groupPrefix = (apiVersion: string) => (apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`);

/** The collection path: `/api/v1/namespaces/ns/pods`, or cluster-wide when `namespace` is undefined. */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const { plural, namespaced } = resourceInfo(apiVersion, kind);
  const nsPart = namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${groupPrefix(apiVersion)}${nsPart}/${plural}`;
}

export function objectPath(ref: ObjectRef): string {
  const { namespaced } = resourceInfo(ref.apiVersion, ref.kind);
  if (namespaced && !ref.namespace) throw new Error(`${ref.kind} ${ref.name} needs a namespace`);
  return `${collectionPath(ref.apiVersion, ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
}
