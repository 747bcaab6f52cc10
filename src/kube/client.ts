import { isNotFound } from './errors.ts';
import { type KubeObject, type ObjectRef, refOf } from './objects.ts';
import { collectionPath, objectPath } from './resources.ts';
import type { KubeRest } from './rest.ts';

/** One field manager for every write the operator makes, so SSA ownership is clear and stable across versions. */
export const FIELD_MANAGER = 'warroom-operator';

const APPLY = 'application/apply-patch+yaml';
const JSON_PATCH = 'application/json-patch+json';

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'test';
  path: string;
  value?: unknown;
}

/** Typed verbs over KubeRest. Callers speak in objects and refs; paths and content types stay in here. */
export class KubeClient {
  readonly rest: KubeRest;

  constructor(rest: KubeRest) {
    this.rest = rest;
  }

  async get<T extends KubeObject>(ref: ObjectRef, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.rest.request<T>('GET', objectPath(ref), signal ? { signal } : {});
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Lists every page; `namespace` undefined means all namespaces (or a cluster-scoped kind). */
  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    opts: { namespace?: string; labelSelector?: string; signal?: AbortSignal } = {},
  ): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page = await this.rest.list(
        collectionPath(apiVersion, kind, opts.namespace),
        {
          query: { labelSelector: opts.labelSelector, limit: 500, continue: cont },
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        (item) => items.push({ ...(item as T), apiVersion, kind }),
      );
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  /** Server-side apply of the full intent for the fields we own (`force`: a controller owns what it declares). */
  apply<T extends KubeObject>(obj: KubeObject, signal?: AbortSignal): Promise<T> {
    return this.rest.request<T>('PATCH', objectPath(refOf(obj)), {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: obj,
      contentType: APPLY,
      ...(signal ? { signal } : {}),
    });
  }

  /** Server-side apply on the /status subresource. */
  applyStatus<T extends KubeObject>(ref: ObjectRef, status: unknown, signal?: AbortSignal): Promise<T> {
    const body = {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, namespace: ref.namespace },
      status,
    };
    return this.rest.request<T>('PATCH', `${objectPath(ref)}/status`, {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body,
      contentType: APPLY,
      ...(signal ? { signal } : {}),
    });
  }

  /** JSON patch; with a `test` op it fails with 422 instead of clobbering a concurrent change. */
  jsonPatch<T extends KubeObject>(ref: ObjectRef, ops: JsonPatchOp[], signal?: AbortSignal): Promise<T> {
    return this.rest.request<T>('PATCH', objectPath(ref), {
      query: { fieldManager: FIELD_MANAGER },
      body: ops,
      contentType: JSON_PATCH,
      ...(signal ? { signal } : {}),
    });
  }

  create<T extends KubeObject>(obj: KubeObject, signal?: AbortSignal): Promise<T> {
    const { apiVersion, kind, metadata } = obj;
    return this.rest.request<T>('POST', collectionPath(apiVersion, kind, metadata.namespace), {
      query: { fieldManager: FIELD_MANAGER },
      body: obj,
      ...(signal ? { signal } : {}),
    });
  }

  /** Deletes with background propagation; false when it was already gone. */
  async delete(ref: ObjectRef, opts: { uid?: string; signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.rest.request('DELETE', objectPath(ref), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
