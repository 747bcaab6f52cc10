import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Agent, type Dispatcher, fetch } from 'undici';
import type { KubeConnection, TlsMaterial } from './config.ts';
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
 * JSON over HTTPS to the apiserver, authenticated by the connection's credentials (token, token file, client
 * certificate, exec plugin, in-cluster). Everything else — paths, SSA, watch streaming with our own timeouts — is
 * ours, so its behaviour is exactly what the tests against the real apiserver see.
 */
export class KubeRest {
  readonly #conn: KubeConnection;
  readonly server: string;
  /**
   * One connection pool per TLS material: a new one only when the material changes (a rotated certificate or CA
   * file, a new client certificate from an exec plugin); the old one is closed once requests in flight are done.
   */
  #pool: { tls: TlsMaterial; dispatcher: Dispatcher } | undefined;

  constructor(conn: KubeConnection) {
    this.#conn = conn;
    this.server = conn.server;
  }

  #url(path: string, query?: Query): URL {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async #prepare(): Promise<{ getHeaders(): Record<string, string>; getDispatcher(): Dispatcher }> {
    const { headers, tls } = await this.#conn.credentials();
    if (this.#pool?.tls !== tls) {
      const old = this.#pool?.dispatcher;
      this.#pool = { tls, dispatcher: new Agent({ connect: { ...tls } }) };
      // close() lets requests in flight (including open watches) finish on the old pool.
      if (old) setTimeout(() => void old.close().catch(() => undefined), 60_000).unref();
    }
    const dispatcher = this.#pool.dispatcher;
    return { getHeaders: () => headers, getDispatcher: () => dispatcher };
  }

  async #failed(method: string, path: string, res: Response): Promise<ApiError> {
    if (res.status === 401) this.#conn.invalidate();
    return ApiError.fromResponse(method, path, res);
  }

  /** GET of a non-JSON body (e.g. a PEM served through the apiserver's service proxy). */
  async getText(path: string, timeoutMs = 10_000, signal?: AbortSignal): Promise<string> {
    const url = this.#url(path);
    const ctx = await this.#prepare();
    const res = await fetch(url, {
      headers: { ...ctx.getHeaders(), accept: '*/*' },
      dispatcher: ctx.getDispatcher(),
      signal: withTimeout(timeoutMs, signal),
    });
    if (!res.ok) throw await this.#failed('GET', path, res as unknown as Response);
    return res.text();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.#url(path, opts.query);
    const ctx = await this.#prepare();
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
    if (!res.ok) throw await this.#failed(method, path, res as unknown as Response);
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
    const ctx = await this.#prepare();
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
        if (!res.ok || !res.body) return await this.#failed('WATCH', path, res as unknown as Response);
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
