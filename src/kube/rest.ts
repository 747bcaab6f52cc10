import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, fetch } from 'undici';
import { ApiError } from './errors.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  /** The caller's cancellation (a reconcile's stop deadline); combined with the timeout. */
  signal?: AbortSignal;
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
  /**
   * client-node 2.0.1 builds a new undici Agent (a new TLS connection pool) on every call; kept per request that
   * means a TLS handshake per API call and idle sockets piling up. We keep one and renew it now and then, so a rotated
   * client certificate or CA file is still picked up.
   */
  #dispatcher: { value: Dispatcher | undefined; at: number } | undefined;
  static readonly DISPATCHER_TTL_MS = 10 * 60_000;

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

  async #prepare(
    url: URL,
    method: string,
  ): Promise<{ getHeaders(): Record<string, string>; getDispatcher(): Dispatcher | undefined }> {
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await this.#kc.applySecurityAuthentication(ctx);
    const now = Date.now();
    if (!this.#dispatcher || now - this.#dispatcher.at > KubeRest.DISPATCHER_TTL_MS) {
      const old = this.#dispatcher?.value;
      this.#dispatcher = { value: ctx.getDispatcher() as Dispatcher | undefined, at: now };
      // close() lets requests in flight (including open watches) finish on the old pool.
      if (old) setTimeout(() => void old.close().catch(() => undefined), 60_000).unref();
    } else {
      void (ctx.getDispatcher() as Dispatcher | undefined)?.close().catch(() => undefined);
    }
    const dispatcher = this.#dispatcher.value;
    return { getHeaders: () => ctx.getHeaders(), getDispatcher: () => dispatcher };
  }

  /** GET of a non-JSON body (e.g. a PEM served through the apiserver's service proxy). */
  async getText(path: string, timeoutMs = 10_000): Promise<string> {
    const url = this.#url(path);
    const ctx = await this.#prepare(url, 'GET');
    const res = await fetch(url, {
      headers: { ...ctx.getHeaders(), accept: '*/*' },
      dispatcher: ctx.getDispatcher(),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw await ApiError.fromResponse('GET', path, res as unknown as Response);
    return res.text();
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
      signal: withTimeout(opts.timeoutMs ?? 30_000, opts.signal),
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

/** A timeout, and the caller's own cancellation when it has one: whichever comes first aborts the request. */
function withTimeout(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}
