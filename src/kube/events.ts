import { randomBytes } from 'node:crypto';
import type { KubeClient } from './client.ts';
import { type KubeObject, toMicroTime } from './objects.ts';

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

/**
 * events.k8s.io/v1 events about a (cluster-scoped) object. Cluster-scoped regarding objects get their events in the
 * `default` namespace, as client-go does. Repeats of the same (reason, note) within a window are dropped, so a
 * reconcile loop cannot flood etcd. Events are best effort: a failure is logged, never fails a reconcile.
 * Callers must never put a secret in `note` (tests grep events for every generated secret).
 */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #controller: string;
  readonly #instance: string;
  readonly #recent = new Map<string, number>();
  readonly #dedupeMs: number;
  readonly #log: { warn(o: object, m: string): void } | undefined;

  constructor(
    client: KubeClient,
    opts: { controller: string; instance: string; dedupeMs?: number; log?: { warn(o: object, m: string): void } },
  ) {
    this.#client = client;
    this.#controller = opts.controller;
    this.#instance = opts.instance;
    this.#dedupeMs = opts.dedupeMs ?? 10 * 60_000;
    this.#log = opts.log;
  }

  async emit(regarding: KubeObject, ev: EventInput, signal?: AbortSignal): Promise<void> {
    const key = `${regarding.metadata.uid}/${ev.reason}/${ev.note}`;
    const now = Date.now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#dedupeMs) return;
    this.#recent.set(key, now);
    if (this.#recent.size > 10_000) this.#recent.clear();
    const namespace = regarding.metadata.namespace ?? 'default';
    try {
      await this.#client.create(
        {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: `${regarding.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
          eventTime: toMicroTime(new Date(now)),
          reportingController: this.#controller,
          reportingInstance: this.#instance,
          action: ev.action,
          reason: ev.reason,
          type: ev.type,
          note: ev.note.slice(0, 1024),
          regarding: {
            apiVersion: regarding.apiVersion,
            kind: regarding.kind,
            name: regarding.metadata.name,
            uid: regarding.metadata.uid,
            ...(regarding.metadata.namespace ? { namespace: regarding.metadata.namespace } : {}),
          },
        },
        signal,
      );
    } catch (err) {
      this.#log?.warn({ err: String(err), reason: ev.reason }, 'could not record event');
    }
  }
}
