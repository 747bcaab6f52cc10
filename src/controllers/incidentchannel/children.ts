// What the operator keeps of the objects it observes in war-room namespaces: a small projection of each (the fields
// readiness, teardown, prune and relay-port allocation read), never the whole object. The watch caches store these,
// and a reconcile reads them instead of asking the apiserver (controller-runtime's "read from the informer").
import type { KubeObject, ObjectMeta } from '../../kube/objects.ts';
import { ANNOTATION_CHANNEL_UID, LABEL_CHANNEL, LABEL_COMPONENT, LABEL_MANAGED_BY } from './names.ts';

/** The identifying metadata, with only the labels and annotation the operator itself sets. */
function slimMeta(m: ObjectMeta): ObjectMeta {
  const labels: Record<string, string> = {};
  for (const k of [LABEL_MANAGED_BY, LABEL_CHANNEL, LABEL_COMPONENT]) {
    const v = m.labels?.[k];
    if (v !== undefined) labels[k] = v;
  }
  const uid = m.annotations?.[ANNOTATION_CHANNEL_UID];
  return {
    name: m.name,
    ...(m.namespace ? { namespace: m.namespace } : {}),
    ...(m.uid ? { uid: m.uid } : {}),
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    ...(m.generation !== undefined ? { generation: m.generation } : {}),
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    labels,
    ...(uid ? { annotations: { [ANNOTATION_CHANNEL_UID]: uid } } : {}),
  };
}

export interface WorkloadState {
  /** Wanted replicas (StatefulSet, Deployment). */
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** Job: completed pods, and the Failed condition's words when the Job gave up. */
  succeeded: number;
  failed?: string;
}

export interface PodState {
  /** The scheduler's message when the pod cannot be placed. */
  unschedulable?: string;
  waiting: { container: string; image: string; reason: string; message: string }[];
}

export interface Projected<V = undefined> extends KubeObject {
  metadata: ObjectMeta;
  state: V;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, max = 300): string => (typeof v === 'string' ? v.slice(0, max) : '');

/** Children whose spec the operator applies but whose state it never reads: metadata is enough (drift, prune). */
export function projectMetadata(o: KubeObject): Projected {
  return { apiVersion: o.apiVersion, kind: o.kind, metadata: slimMeta(o.metadata), state: undefined };
}

export function projectNamespace(o: KubeObject): Projected<{ phase: string }> {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: slimMeta(o.metadata),
    state: { phase: str(obj(o.status).phase) },
  };
}

export function projectWorkload(o: KubeObject): Projected<WorkloadState> {
  const status = obj(o.status);
  const failed = arr(status.conditions)
    .map(obj)
    .find((c) => c.type === 'Failed' && c.status === 'True');
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: slimMeta(o.metadata),
    state: {
      replicas: obj(o.spec).replicas === undefined ? 1 : num(obj(o.spec).replicas),
      readyReplicas: num(status.readyReplicas),
      availableReplicas: num(status.availableReplicas),
      succeeded: num(status.succeeded),
      ...(failed ? { failed: str(failed.message) || str(failed.reason) || 'failed' } : {}),
    },
  };
}

/** Only the trouble a human must act on is kept; a healthy pod projects to an empty state. */
export function projectPod(o: KubeObject): Projected<PodState> {
  const status = obj(o.status);
  const scheduled = arr(status.conditions)
    .map(obj)
    .find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
  const waiting: PodState['waiting'] = [];
  for (const c of [...arr(status.initContainerStatuses), ...arr(status.containerStatuses)].map(obj)) {
    const w = obj(obj(c.state).waiting);
    if (typeof w.reason === 'string' && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
      waiting.push({ container: str(c.name), image: str(c.image), reason: str(w.reason, 64), message: str(w.message) });
    }
  }
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: slimMeta(o.metadata),
    state: { ...(scheduled ? { unschedulable: str(scheduled.message) } : {}), waiting },
  };
}

/** The node ports a Service holds (coturn's relay block): relay-port allocation reads them. */
export function projectService(o: KubeObject): Projected<{ nodePorts: number[] }> {
  const nodePorts = arr(obj(o.spec).ports)
    .map((p) => num(obj(p).nodePort))
    .filter((p) => p > 0);
  return { apiVersion: o.apiVersion, kind: o.kind, metadata: slimMeta(o.metadata), state: { nodePorts } };
}

const kindKey = (apiVersion: string, kind: string) => `${apiVersion}/${kind}`;

/**
 * The projections by namespace and kind, fed by the watch caches' handlers, so a reconcile looks up its own
 * namespace's children in O(its children) instead of scanning every cache.
 */
export class ChildIndex {
  readonly #byNamespace = new Map<string, Map<string, Map<string, Projected<unknown>>>>();
  readonly #namespaces = new Map<string, Projected<{ phase: string }>>();

  upsert(o: Projected<unknown>): void {
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') {
      this.#namespaces.set(o.metadata.name, o as Projected<{ phase: string }>);
      return;
    }
    const ns = o.metadata.namespace ?? '';
    const kinds = this.#byNamespace.get(ns) ?? new Map<string, Map<string, Projected<unknown>>>();
    this.#byNamespace.set(ns, kinds);
    const key = kindKey(o.apiVersion, o.kind);
    const byName = kinds.get(key) ?? new Map<string, Projected<unknown>>();
    kinds.set(key, byName);
    byName.set(o.metadata.name, o);
  }

  remove(o: KubeObject): void {
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') {
      this.#namespaces.delete(o.metadata.name);
      return;
    }
    const kinds = this.#byNamespace.get(o.metadata.namespace ?? '');
    const byName = kinds?.get(kindKey(o.apiVersion, o.kind));
    byName?.delete(o.metadata.name);
    if (byName?.size === 0) kinds?.delete(kindKey(o.apiVersion, o.kind));
    if (kinds?.size === 0) this.#byNamespace.delete(o.metadata.namespace ?? '');
  }

  /** After a relist: the set of one kind is replaced whole (objects deleted while the watch was down go). */
  replaceKind(apiVersion: string, kind: string, all: Projected<unknown>[]): void {
    if (kind === 'Namespace' && apiVersion === 'v1') {
      this.#namespaces.clear();
    } else {
      for (const kinds of this.#byNamespace.values()) kinds.delete(kindKey(apiVersion, kind));
    }
    for (const o of all) this.upsert(o);
  }

  namespace(name: string): Projected<{ phase: string }> | undefined {
    return this.#namespaces.get(name);
  }

  of<V>(namespace: string, apiVersion: string, kind: string): Projected<V>[] {
    const byName = this.#byNamespace.get(namespace)?.get(kindKey(apiVersion, kind));
    return byName ? ([...byName.values()] as Projected<V>[]) : [];
  }

  /** Every object of a kind in any namespace (coturn Services across war rooms, for relay-port allocation). */
  everywhere<V>(apiVersion: string, kind: string): Projected<V>[] {
    const out: Projected<V>[] = [];
    for (const kinds of this.#byNamespace.values()) {
      const byName = kinds.get(kindKey(apiVersion, kind));
      if (byName) for (const o of byName.values()) out.push(o as Projected<V>);
    }
    return out;
  }
}
