import { API_VERSION, KIND } from '../../api/v1alpha1/incidentchannel.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject, ObjectRef } from '../../kube/objects.ts';
import type { Reflector } from '../../kube/reflector.ts';
import type { Channel } from './channel.ts';
import type { ChildIndex, PodState, Projected, WorkloadState } from './children.ts';
import type { Applied, ChannelCluster } from './cluster.ts';
import { PRUNABLE_KINDS } from './desired/index.ts';
import { LABEL_CHANNEL, LABEL_COMPONENT } from './names.ts';
import type { NamespaceChildren } from './observe.ts';
import type { ChannelStatus } from './status.ts';

/** The reconciler's cluster in production: writes through the KubeClient, reads from the reflectors' caches. */
export class KubeChannelCluster implements ChannelCluster {
  readonly #client: KubeClient;
  readonly #channels: Reflector<Channel>;
  readonly #children: ChildIndex;

  constructor(client: KubeClient, channels: Reflector<Channel>, children: ChildIndex) {
    this.#client = client;
    this.#channels = channels;
    this.#children = children;
  }

  channel(name: string): Channel | undefined {
    return this.#channels.get(name);
  }

  channels(): Channel[] {
    return this.#channels.list();
  }

  namespace(name: string): Projected<{ phase: string }> | undefined {
    return this.#children.namespace(name);
  }

  children(namespace: string): NamespaceChildren {
    const index = this.#children;
    return {
      workload(kind, name) {
        const apiVersion = kind === 'Job' ? 'batch/v1' : 'apps/v1';
        return index.of<WorkloadState>(namespace, apiVersion, kind).find((o) => o.metadata.name === name);
      },
      pods: () => index.of<PodState>(namespace, 'v1', 'Pod'),
    };
  }

  labelled(namespace: string, channelLabel: string): KubeObject[] {
    return PRUNABLE_KINDS.flatMap(({ apiVersion, kind }) =>
      this.#children.of(namespace, apiVersion, kind).filter((o) => o.metadata.labels?.[LABEL_CHANNEL] === channelLabel),
    );
  }

  coturnBlocks(): { namespace: string; block: { min: number; max: number } }[] {
    const out: { namespace: string; block: { min: number; max: number } }[] = [];
    for (const svc of this.#children.everywhere<{ nodePorts: number[] }>('v1', 'Service')) {
      if (svc.metadata.labels?.[LABEL_COMPONENT] !== 'coturn' || svc.state.nodePorts.length === 0) continue;
      out.push({
        namespace: svc.metadata.namespace ?? '',
        block: { min: Math.min(...svc.state.nodePorts), max: Math.max(...svc.state.nodePorts) },
      });
    }
    return out;
  }

  async apply(obj: KubeObject, signal: AbortSignal): Promise<Applied> {
    const live = await this.#client.apply<KubeObject & { status?: { phase?: unknown } }>(obj, signal);
    const phase = live.status?.phase;
    return {
      ...(live.metadata.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
      ...(live.metadata.generation !== undefined ? { generation: live.metadata.generation } : {}),
      ...(typeof phase === 'string' ? { phase } : {}),
    };
  }

  async applyStatus(name: string, status: ChannelStatus, signal: AbortSignal): Promise<void> {
    await this.#client.applyStatus({ apiVersion: API_VERSION, kind: KIND, name }, status, signal);
  }

  async patchChannel(name: string, ops: Parameters<KubeClient['jsonPatch']>[1], signal: AbortSignal): Promise<void> {
    await this.#client.jsonPatch({ apiVersion: API_VERSION, kind: KIND, name }, ops, signal);
  }

  delete(ref: ObjectRef, opts: { uid?: string }, signal: AbortSignal): Promise<boolean> {
    return this.#client.delete(ref, { ...opts, signal });
  }
}
