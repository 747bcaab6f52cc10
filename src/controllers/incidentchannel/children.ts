// What the operator keeps of the objects it observes in war-room namespaces: a small projection of each (the fields
// readiness, teardown, prune and relay-port allocation read), never the whole object. The watch caches store these,
// and a reconcile reads them instead of asking the apiserver (controller-runtime's "read from the informer").
import type { KubeObject, ObjectMeta } from '../../kube/objects.ts';
import { ANNOTATION_CHANNEL_UID, LABEL_CHANNEL, LABEL_COMPONENT, LABEL_MANAGED_BY } from './names.ts';

/**
 * The identifying metadata, with only the labels and annotation the operator itself sets. The uid only where it is
 * read (a namespace is deleted with its uid as precondition): kept on every child it was ~1 MiB at 500 war rooms.
 */
function slimMeta(m: ObjectMeta, keepUid = false): ObjectMeta {
  const labels: Record<string, string> = {};
  for (const k of [LABEL_MANAGED_BY, LABEL_CHANNEL, LABEL_COMPONENT]) {
    const v = m.labels?.[k];
    if (v !== undefined) labels[k] = v;
  }
  const uid = m.annotations?.[ANNOTATION_CHANNEL_UID];
  return {
    name: m.name,
    ...(m.namespace ? { namespace: m.namespace } : {}),
    ...(keepUid && m.uid ? { uid: m.uid } : {}),
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
    metadata: slimMeta(o.metadata, true),
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

/**
 * Children whose status another controller keeps writing (the quota controller recounts a ResourceQuota's usage on
 * every pod created or deleted): their spec as the apiserver serialises it, so a status-only change can be told
 * from drift without a generation (these kinds have none).
 */
export function projectSpec(o: KubeObject): Projected<{ spec: string }> {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: slimMeta(o.metadata),
    state: { spec: JSON.stringify(o.spec ?? null) },
  };
}

/** Nothing the operator reads of this child changed (its projection is the same but for the resourceVersion). */
export function sameProjection(a: Projected<unknown>, b: Projected<unknown>): boolean {
  const { resourceVersion: _a, ...metaA } = a.metadata;
  const { resourceVersion: _b, ...metaB } = b.metadata;
  return JSON.stringify([metaA, a.state]) === JSON.stringify([metaB, b.state]);
}

/** The node ports a Service holds (coturn's relay block): relay-port allocation reads them. */
export function projectService(o: KubeObject): Projected<{ nodePorts: number[] }> {
  const nodePorts = arr(obj(o.spec).ports)
    .map((p) => num(obj(p).nodePort))
    .filter((p) => p > 0);
  return { apiVersion: o.apiVersion, kind: o.kind, metadata: slimMeta(o.metadata), state: { nodePorts } };
}

const sameChild = (a: KubeObject, b: KubeObject) =>
  a.metadata.name === b.metadata.name && a.kind === b.kind && a.apiVersion === b.apiVersion;

/**
 * The projections by namespace, fed by the watch caches' handlers, so a reconcile looks up its own namespace's
 * children in O(its children) instead of scanning every cache. One array per namespace (a war room has ~35 children):
 * a Map per namespace and kind was ~15 small Maps per war room, ~1.5 MiB of hash tables at 500.
 */
export class ChildIndex {
  readonly #byNamespace = new Map<string, Projected<unknown>[]>();
  readonly #namespaces = new Map<string, Projected<{ phase: string }>>();

  upsert(o: Projected<unknown>): void {
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') {
      this.#namespaces.set(o.metadata.name, o as Projected<{ phase: string }>);
      return;
    }
    const ns = o.metadata.namespace ?? '';
    const children = this.#byNamespace.get(ns);
    if (!children) {
      this.#byNamespace.set(ns, [o]);
      return;
    }
    // Every child of a namespace shares one copy of its name (each parsed object brought its own).
    const first = children[0];
    if (first?.metadata.namespace === ns) o.metadata.namespace = first.metadata.namespace;
    const at = children.findIndex((c) => sameChild(c, o));
    if (at >= 0) children[at] = o;
    else children.push(o);
  }

  remove(o: KubeObject): void {
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') {
      this.#namespaces.delete(o.metadata.name);
      return;
    }
    const ns = o.metadata.namespace ?? '';
    const children = this.#byNamespace.get(ns);
    const at = children?.findIndex((c) => sameChild(c, o)) ?? -1;
    if (!children || at < 0) return;
    children.splice(at, 1);
    if (children.length === 0) this.#byNamespace.delete(ns);
  }

  /** After a relist: the set of one kind is replaced whole (objects deleted while the watch was down go). */
  replaceKind(apiVersion: string, kind: string, all: Projected<unknown>[]): void {
    if (kind === 'Namespace' && apiVersion === 'v1') {
      this.#namespaces.clear();
    } else {
      for (const [ns, children] of this.#byNamespace) {
        const others = children.filter((c) => c.kind !== kind || c.apiVersion !== apiVersion);
        if (others.length === 0) this.#byNamespace.delete(ns);
        else this.#byNamespace.set(ns, others);
      }
    }
    for (const o of all) this.upsert(o);
  }

  namespace(name: string): Projected<{ phase: string }> | undefined {
    return this.#namespaces.get(name);
  }

  of<V>(namespace: string, apiVersion: string, kind: string): Projected<V>[] {
    const children = this.#byNamespace.get(namespace) ?? [];
    return children.filter((c) => c.kind === kind && c.apiVersion === apiVersion) as Projected<V>[];
  }

  /** Every object of a kind in any namespace (coturn Services across war rooms, for relay-port allocation). */
  everywhere<V>(apiVersion: string, kind: string): Projected<V>[] {
    const out: Projected<V>[] = [];
    for (const children of this.#byNamespace.values()) {
      for (const c of children) if (c.kind === kind && c.apiVersion === apiVersion) out.push(c as Projected<V>);
    }
    return out;
  }
}
