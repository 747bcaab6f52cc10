import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { ApiError } from './errors.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface WatchHandle {
  /** Resolves when the stream ends: null on a clean server-side close, an error otherwise. */
  done: Promise<Error | null>;
  abort(reason?: string): void;
}

/**
 * JSON over HTTPS to the apiserver, authenticated by client-node's KubeConfig (token files, exec plugins, client
 * certs, in-cluster). Everything else — paths, SSA, watch streaming with our own timeouts — is ours, so its
 * behaviour is exactly what the tests against the real apiserver see.
 */
export class KubeRest {
  readonly #kc: KubeConfig;
  readonly server: string;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/$/, '');
  }

  #url(path: string, query?: Query): URL {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async #prepare(url: URL, method: string): Promise<RequestContext> {
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await this.#kc.applySecurityAuthentication(ctx);
    return ctx;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.#url(path, opts.query);
    const ctx = await this.#prepare(url, method);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const res = await fetch(url, {
      method,
      headers,
      body,
      dispatcher: ctx.getDispatcher(),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    if (!res.ok) throw await ApiError.fromResponse(method, path, res as unknown as Response);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Opens a watch stream. The server ends it after `timeoutSeconds`; `idleTimeoutMs` catches a connection that
   * silently stops delivering (no data, not even bookmarks) — a known failure mode of long-lived watches.
   */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (ev: WatchEvent<T>) => void,
    idleTimeoutMs: number,
  ): Promise<WatchHandle> {
    const url = this.#url(path, { ...query, watch: true });
    const ctx = await this.#prepare(url, HttpMethod.GET);
    const controller = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    const resetIdle = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error(`watch idle for ${idleTimeoutMs} ms`)), idleTimeoutMs);
      idle.unref();
    };
    resetIdle();
    const done = (async (): Promise<Error | null> => {
      try {
        const res = await fetch(url, {
          headers: { ...ctx.getHeaders(), accept: 'application/json' },
          dispatcher: ctx.getDispatcher(),
          signal: controller.signal,
        });
        if (!res.ok || !res.body) return await ApiError.fromResponse('WATCH', path, res as unknown as Response);
        const lines = createInterface({
          input: Readable.fromWeb(res.body as never),
          crlfDelay: Number.POSITIVE_INFINITY,
        });
        for await (const line of lines) {
          resetIdle();
          if (!line.trim()) continue;
          onEvent(JSON.parse(line) as WatchEvent<T>);
        }
        return null;
      } catch (err) {
        if (controller.signal.aborted) {
          const reason = controller.signal.reason;
          return reason instanceof Error ? reason : new Error(String(reason ?? 'watch aborted'));
        }
        return err instanceof Error ? err : new Error(String(err));
      } finally {
        if (idle) clearTimeout(idle);
      }
    })();
    return { done, abort: (reason = 'watch stopped') => controller.abort(new Error(reason)) };
  }
}
