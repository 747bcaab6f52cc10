import { ApiError, isGone } from './errors.ts';
import type { KubeObject } from './objects.ts';
import { collectionPath } from './resources.ts';
import { type KubeRest, METADATA_ONLY, type WatchEvent, type WatchHandle } from './rest.ts';

export interface ReflectorHandlers<T> {
  onUpsert?(obj: T, old: T | undefined): void;
  onDelete?(obj: T): void;
  /** After every successful (re)list, with the full set: a natural resync point. */
  onSync?(objects: T[]): void;
}

export interface ReflectorMetrics {
  restart(resource: string, reason: string): void;
  relist(resource: string): void;
}

export interface ReflectorOptions<T> {
  rest: KubeRest;
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  handlers: ReflectorHandlers<T>;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  metrics?: ReflectorMetrics;
  /** Server-side watch duration, jittered up to 2× so replicas don't reconnect in lockstep (client-go: 5–10 min). */
  watchTimeoutSeconds?: number;
  /** A watch that delivers nothing, not even a bookmark, for this long is presumed dead and restarted. */
  idleTimeoutMs?: number;
  /** Relist from scratch at this interval even when the watch looks healthy (guards against silent drift). */
  relistIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * Shrinks each object before it is stored (client-go's TransformFunc). The default drops managedFields, which are
   * often most of an object's size and never read by a controller; watchers that only need to know "a child changed"
   * should keep metadata alone (`metadataOnly`).
   */
  transform?: (obj: KubeObject) => T;
  /**
   * Ask the apiserver for metadata only (PartialObjectMetadata): for caches whose transform reads nothing else, so
   * spec and status are never sent, let alone parsed. Items still carry this reflector's apiVersion and kind.
   */
  metadataOnly?: boolean;
}

/** Drops metadata.managedFields: routinely half an object's bytes, and nothing in a cache ever reads them. */
export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  if (!obj.metadata.managedFields) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** Keeps apiVersion, kind and the identifying metadata only. */
export function metadataOnly<T extends KubeObject>(obj: T): T {
  const { name, namespace, uid, resourceVersion, labels, annotations, deletionTimestamp, generation } = obj.metadata;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, namespace, uid, resourceVersion, labels, annotations, deletionTimestamp, generation },
  } as T;
}

const keyOf = (o: KubeObject) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

/**
 * List-then-watch into an in-memory store, client-go style: resourceVersion tracking, bookmarks, relist on 410 Gone,
 * jittered server timeouts, exponential backoff with jitter on errors, an idle watchdog and a periodic relist.
 * client-node's informer stops for good on most errors; this one never gives up until stop().
 */
export class Reflector<T extends KubeObject> {
  readonly #o: Required<Omit<ReflectorOptions<T>, 'namespace' | 'labelSelector' | 'log' | 'metrics' | 'metadataOnly'>> &
    ReflectorOptions<T>;
  readonly #store = new Map<string, T>();
  /** Bumped on every change to the store, so readers can cache what they derive from `list()`. */
  #changes = 0;
  #resourceVersion: string | undefined;
  #running = false;
  #synced = false;
  #current: WatchHandle | undefined;
  #lastRelist = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  readonly resource: string;

  constructor(opts: ReflectorOptions<T>) {
    this.#o = {
      watchTimeoutSeconds: 300,
      idleTimeoutMs: 5 * 60_000,
      relistIntervalMs: 30 * 60_000,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      // Without a transform the cache holds the object as the apiserver sent it (T is then KubeObject).
      transform: (o: KubeObject) => withoutManagedFields(o) as T,
      ...opts,
    };
    this.resource = opts.kind.toLowerCase();
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  /** A number that changes whenever the cached set changes. */
  get version(): number {
    return this.#changes;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#current?.abort('reflector stopping');
    this.#wake?.();
    await this.#loop;
  }

  /** Resolves once the first list has landed in the store. */
  async waitForSync(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#synced) {
      if (Date.now() > deadline) throw new Error(`${this.resource} reflector did not sync in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      try {
        if (!this.#resourceVersion || Date.now() - this.#lastRelist > this.#o.relistIntervalMs) await this.#relist();
        const err = await this.#watchOnce();
        if (err === null) {
          failures = 0; // clean server-side close after timeoutSeconds: reconnect from the same resourceVersion
          continue;
        }
        if (!this.#running) break;
        throw err;
      } catch (err) {
        if (!this.#running) break;
        if (isGone(err)) {
          this.#o.log?.info({ resource: this.resource }, 'resourceVersion too old (410); relisting');
          this.#resourceVersion = undefined;
          this.#o.metrics?.restart(this.resource, 'gone');
          continue;
        }
        failures++;
        const delay = this.#backoff(failures);
        this.#o.log?.warn({ resource: this.resource, err: String(err), retryInMs: delay }, 'watch failed; retrying');
        this.#o.metrics?.restart(this.resource, 'error');
        await this.#sleep(delay);
      }
    }
  }

  #backoff(failures: number): number {
    const exp = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** (failures - 1));
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async #relist(): Promise<void> {
    const path = collectionPath(this.#o.apiVersion, this.#o.kind, this.#o.namespace);
    const seen = new Map<string, T>();
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      // Each item is projected as it comes off the wire: the full objects of a page never exist all at once.
      const page = await this.#o.rest.list(
        path,
        {
          query: { labelSelector: this.#o.labelSelector, limit: 500, continue: cont },
          ...(this.#o.metadataOnly ? { accept: METADATA_ONLY.list } : {}),
        },
        (item) => {
          const obj = this.#o.transform({
            ...(item as KubeObject),
            apiVersion: this.#o.apiVersion,
            kind: this.#o.kind,
          });
          seen.set(keyOf(obj), obj);
        },
      );
      rv = page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);

    for (const [key, old] of this.#store) {
      if (!seen.has(key)) {
        this.#store.delete(key);
        this.#changes++;
        this.#o.handlers.onDelete?.(old);
      }
    }
    for (const [key, obj] of seen) {
      const old = this.#store.get(key);
      this.#store.set(key, obj);
      if (old?.metadata.resourceVersion !== obj.metadata.resourceVersion) {
        this.#changes++;
        this.#o.handlers.onUpsert?.(obj, old);
      }
    }
    this.#resourceVersion = rv;
    this.#lastRelist = Date.now();
    this.#synced = true;
    this.#o.metrics?.relist(this.resource);
    this.#o.handlers.onSync?.([...seen.values()]);
  }

  async #watchOnce(): Promise<Error | null> {
    // The watch ends when the next relist is due, so `relistIntervalMs` holds even while the watch is healthy.
    const untilRelist = Math.ceil((this.#lastRelist + this.#o.relistIntervalMs - Date.now()) / 1000);
    const timeoutSeconds = Math.max(
      1,
      Math.min(Math.round(this.#o.watchTimeoutSeconds * (1 + Math.random())), untilRelist),
    );
    let failure: Error | undefined;
    const handle = await this.#o.rest.watch<KubeObject>(
      collectionPath(this.#o.apiVersion, this.#o.kind, this.#o.namespace),
      {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        labelSelector: this.#o.labelSelector,
      },
      (ev) => {
        failure ??= this.#apply(ev);
        if (failure) handle.abort('watch error event');
      },
      Math.max(this.#o.idleTimeoutMs, (timeoutSeconds + 30) * 1000),
      this.#o.metadataOnly ? METADATA_ONLY.watch : undefined,
    );
    this.#current = handle;
    const err = await handle.done;
    this.#current = undefined;
    return failure ?? err;
  }

  /** Applies one event; returns an error to end the watch (410 → relist, anything else → backoff). */
  #apply(ev: WatchEvent<KubeObject>): Error | undefined {
    if (ev.type === 'ERROR') {
      const status = ev.object as unknown as { code?: number; reason?: string; message?: string };
      return new ApiError(status.code ?? 500, status.reason ?? 'WatchError', status.message ?? 'watch error event');
    }
    if (ev.type === 'BOOKMARK') {
      this.#resourceVersion = ev.object.metadata.resourceVersion ?? this.#resourceVersion;
      return undefined;
    }
    const obj = this.#o.transform({ ...ev.object, apiVersion: this.#o.apiVersion, kind: this.#o.kind });
    this.#resourceVersion = obj.metadata.resourceVersion ?? this.#resourceVersion;
    const key = keyOf(obj);
    if (ev.type === 'DELETED') {
      this.#store.delete(key);
      this.#changes++;
      this.#o.handlers.onDelete?.(obj);
      return undefined;
    }
    const old = this.#store.get(key);
    this.#store.set(key, obj);
    this.#changes++;
    this.#o.handlers.onUpsert?.(obj, old);
    return undefined;
  }
}
