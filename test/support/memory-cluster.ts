// An in-memory double of the reconciler's OWN cluster interface (ChannelCluster) and of the secrets phase's two calls.
// It is not an API server: no validation, no admission, no controllers. It stores what is applied, answers from maps
// the test sets (namespace phase, workload and pod states), records every call in order, and fails the calls a test
// asks it to fail. The real behaviour is proven against the real control plane in test/integration and test/e2e.
import { randomUUID } from 'node:crypto';
import { type Channel, toChannel } from '../../src/controllers/incidentchannel/channel.ts';
import type { PodState, Projected, WorkloadState } from '../../src/controllers/incidentchannel/children.ts';
import type { Applied, ChannelCluster } from '../../src/controllers/incidentchannel/cluster.ts';
import { LABEL_CHANNEL, LABEL_COMPONENT } from '../../src/controllers/incidentchannel/names.ts';
import type { NamespaceChildren } from '../../src/controllers/incidentchannel/observe.ts';
import type { SecretsClient } from '../../src/controllers/incidentchannel/secrets-phase.ts';
import type { ChannelStatus } from '../../src/controllers/incidentchannel/status.ts';
import type { JsonPatchOp } from '../../src/kube/client.ts';
import { ApiError } from '../../src/kube/errors.ts';
import type { KubeObject, ObjectRef } from '../../src/kube/objects.ts';

export interface Call {
  verb: 'apply' | 'applyStatus' | 'patchChannel' | 'delete' | 'list' | 'create';
  target: string;
  signal?: AbortSignal;
  status?: ChannelStatus;
}

const key = (kind: string, namespace: string | undefined, name: string) => `${kind}/${namespace ?? ''}/${name}`;

export class MemoryCluster implements ChannelCluster, SecretsClient {
  readonly calls: Call[] = [];
  readonly objects = new Map<string, KubeObject>();
  readonly #channels = new Map<string, Channel>();
  readonly #namespaces = new Map<string, Projected<{ phase: string }>>();
  readonly #workloads = new Map<string, WorkloadState>();
  readonly #pods = new Map<string, Projected<PodState>[]>();
  /** kind/name → error to throw on apply (a permanent 422 or a transient 503, as the test wants). */
  readonly failApply = new Map<string, ApiError>();
  #rv = 1;

  // ---- test controls -------------------------------------------------------------------------------------------
  putChannel(obj: KubeObject): Channel {
    const prev = this.#channels.get(obj.metadata.name);
    // As the apiserver does: an update of the spec keeps the uid, the finalizers and the status.
    const channel = toChannel({
      ...(prev?.status ? { status: prev.status } : {}),
      ...obj,
      metadata: {
        uid: prev?.metadata.uid ?? randomUUID(),
        generation: 1,
        creationTimestamp: '2026-12-01T10:00:00Z',
        ...(prev?.metadata.finalizers ? { finalizers: prev.metadata.finalizers } : {}),
        ...obj.metadata,
        resourceVersion: String(this.#rv++),
      },
    });
    this.#channels.set(obj.metadata.name, channel);
    return channel;
  }

  /** Every workload the last applies created, as ready (or not) as the test says. */
  setAllWorkloads(ready: boolean): void {
    for (const o of this.objects.values()) {
      if (o.kind === 'StatefulSet' || o.kind === 'Deployment') {
        this.#workloads.set(key(o.kind, o.metadata.namespace, o.metadata.name), {
          replicas: 1,
          readyReplicas: ready ? 1 : 0,
          availableReplicas: ready ? 1 : 0,
          succeeded: 0,
        });
      }
      if (o.kind === 'Job') {
        this.#workloads.set(key(o.kind, o.metadata.namespace, o.metadata.name), {
          replicas: 1,
          readyReplicas: 0,
          availableReplicas: 0,
          succeeded: ready ? 1 : 0,
        });
      }
    }
  }

  setPod(namespace: string, component: string, state: PodState): void {
    this.#pods.set(namespace, [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${component}-0`, namespace, labels: { [LABEL_COMPONENT]: component } },
        state,
      },
    ]);
  }

  /** The namespace controller finished: the namespace is gone. */
  finishNamespaceDeletion(name: string): void {
    this.#namespaces.delete(name);
  }

  callsOf(verb: Call['verb']): Call[] {
    return this.calls.filter((c) => c.verb === verb);
  }

  clearCalls(): void {
    this.calls.length = 0;
  }

  // ---- ChannelCluster ------------------------------------------------------------------------------------------
  channel(name: string): Channel | undefined {
    return this.#channels.get(name);
  }

  channels(): Channel[] {
    return [...this.#channels.values()];
  }

  namespace(name: string): Projected<{ phase: string }> | undefined {
    return this.#namespaces.get(name);
  }

  children(namespace: string): NamespaceChildren {
    return {
      workload: (kind, name) => {
        const state = this.#workloads.get(key(kind, namespace, name));
        return state ? { apiVersion: 'apps/v1', kind, metadata: { name, namespace }, state } : undefined;
      },
      pods: () => this.#pods.get(namespace) ?? [],
    };
  }

  labelled(namespace: string, channelLabel: string): KubeObject[] {
    return [...this.objects.values()].filter(
      (o) => o.metadata.namespace === namespace && o.metadata.labels?.[LABEL_CHANNEL] === channelLabel,
    );
  }

  /** Relay blocks other war rooms' coturn Services hold (the test fills it). */
  readonly coturnHeld: { namespace: string; block: { min: number; max: number } }[] = [];

  coturnBlocks(): { namespace: string; block: { min: number; max: number } }[] {
    return this.coturnHeld;
  }

  async apply(obj: KubeObject, signal: AbortSignal): Promise<Applied> {
    this.calls.push({ verb: 'apply', target: `${obj.kind}/${obj.metadata.name}`, signal });
    signal.throwIfAborted();
    const failure = this.failApply.get(`${obj.kind}/${obj.metadata.name}`);
    if (failure) throw failure;
    const resourceVersion = String(this.#rv++);
    this.objects.set(key(obj.kind, obj.metadata.namespace, obj.metadata.name), {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion, generation: 1 },
    });
    if (obj.kind === 'Namespace' && !this.#namespaces.has(obj.metadata.name)) {
      this.#namespaces.set(obj.metadata.name, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { ...obj.metadata, uid: randomUUID(), resourceVersion },
        state: { phase: 'Active' },
      });
    }
    return { resourceVersion, generation: 1, ...(obj.kind === 'Namespace' ? { phase: 'Active' } : {}) };
  }

  async applyStatus(name: string, status: ChannelStatus, signal: AbortSignal): Promise<void> {
    this.calls.push({ verb: 'applyStatus', target: name, signal, status });
    signal.throwIfAborted();
    const current = this.#channels.get(name);
    if (!current) throw new ApiError(404, 'NotFound', `incidentchannels ${name} not found`);
    this.#channels.set(name, {
      ...current,
      status,
      metadata: { ...current.metadata, resourceVersion: String(this.#rv++) },
    });
  }

  async patchChannel(name: string, ops: JsonPatchOp[], signal: AbortSignal): Promise<void> {
    this.calls.push({ verb: 'patchChannel', target: name, signal });
    const current = this.#channels.get(name);
    if (!current) throw new ApiError(404, 'NotFound', `incidentchannels ${name} not found`);
    let finalizers = [...(current.metadata.finalizers ?? [])];
    for (const op of ops) {
      if (op.op === 'add' && op.path === '/metadata/finalizers') finalizers = [...(op.value as string[])];
      if (op.op === 'add' && op.path === '/metadata/finalizers/-') finalizers.push(String(op.value));
      if (op.op === 'remove') finalizers.splice(Number(op.path.split('/').pop()), 1);
    }
    this.#channels.set(name, { ...current, metadata: { ...current.metadata, finalizers } });
  }

  /** As a watch cache lagging behind a write: a namespace delete shows only once showNamespaceDeletions() is called. */
  namespaceCacheLags = false;
  readonly #lagging: string[] = [];

  showNamespaceDeletions(): void {
    this.namespaceCacheLags = false;
    for (const name of this.#lagging.splice(0)) this.#markTerminating(name);
  }

  async delete(ref: ObjectRef, _opts: { uid?: string }, signal: AbortSignal): Promise<boolean> {
    this.calls.push({ verb: 'delete', target: `${ref.kind}/${ref.name}`, signal });
    if (ref.kind === 'Namespace') {
      if (!this.#namespaces.has(ref.name)) return false;
      if (this.namespaceCacheLags) this.#lagging.push(ref.name);
      else this.#markTerminating(ref.name);
      return true;
    }
    return this.objects.delete(key(ref.kind, ref.namespace, ref.name));
  }

  #markTerminating(name: string): void {
    const ns = this.#namespaces.get(name);
    if (ns) {
      this.#namespaces.set(name, {
        ...ns,
        metadata: { ...ns.metadata, deletionTimestamp: '2026-12-01T11:00:00Z' },
        state: { phase: 'Terminating' },
      });
    }
  }

  // ---- SecretsClient -------------------------------------------------------------------------------------------
  async list(apiVersion: string, kind: string, opts: { namespace?: string }): Promise<KubeObject[]> {
    this.calls.push({ verb: 'list', target: `${kind}/${opts.namespace ?? ''}` });
    return [...this.objects.values()].filter(
      (o) => o.apiVersion === apiVersion && o.kind === kind && o.metadata.namespace === opts.namespace,
    );
  }

  async create(obj: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
    this.calls.push({ verb: 'create', target: `${obj.kind}/${obj.metadata.name}`, ...(signal ? { signal } : {}) });
    this.objects.set(key(obj.kind, obj.metadata.namespace, obj.metadata.name), obj);
    return obj;
  }
}
