import { randomBytes } from 'node:crypto';
import type { KubeClient } from './client.ts';
import { type KubeObject, toMicroTime } from './objects.ts';

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

const EVENTS_IN_FLIGHT = 4;
const EVENTS_QUEUED = 1000;

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
  readonly #queue: (() => Promise<void>)[] = [];
  #inFlight = 0;

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

  /**
   * Queues the event and returns at once, as client-go's recorder does: a reconcile never waits for its events (one
   * was a full apiserver round trip on the path of every war room coming up). At most EVENTS_IN_FLIGHT are sent at a
   * time so a burst of war rooms does not crowd out their own applies; past EVENTS_QUEUED waiting, events are dropped
   * and said so in the log.
   */
  async emit(regarding: KubeObject, ev: EventInput, signal?: AbortSignal): Promise<void> {
    const key = `${regarding.metadata.uid}/${ev.reason}/${ev.note}`;
    const now = Date.now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#dedupeMs) return;
    this.#recent.set(key, now);
    if (this.#recent.size > 10_000) this.#recent.clear();
    if (this.#queue.length >= EVENTS_QUEUED) {
      this.#log?.warn({ reason: ev.reason }, 'too many events waiting to be sent; dropping this one');
      return;
    }
    this.#queue.push(() => this.#send(regarding, ev, now, signal));
    this.#drain();
  }

  #drain(): void {
    while (this.#inFlight < EVENTS_IN_FLIGHT && this.#queue.length > 0) {
      const send = this.#queue.shift() as () => Promise<void>;
      this.#inFlight++;
      void send().finally(() => {
        this.#inFlight--;
        this.#drain();
      });
    }
  }

  async #send(regarding: KubeObject, ev: EventInput, now: number, signal?: AbortSignal): Promise<void> {
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
