import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import { createSecureContext } from 'node:tls';
import type { KubeConnection, TlsMaterial } from './config.ts';
import { ApiError } from './errors.ts';
import { type ListEnvelope, ListStreamParser } from './list-stream.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  /** The caller's cancellation (a reconcile's stop deadline); combined with the timeout. */
  signal?: AbortSignal;
  /** The Accept header when not plain JSON (a metadata-only list: METADATA_ONLY.list). */
  accept?: string;
}

/**
 * Accept headers that ask the apiserver for metadata only (PartialObjectMetadata, what client-go's metadata informers
 * use), plain JSON as fallback: a cache that keeps no spec or status is not sent one, so a relist moves and parses a
 * fraction of the bytes (a war room's ConfigMaps carry whole config files).
 */
export const METADATA_ONLY = {
  list: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
  watch: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json',
} as const;

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
 * Requests in flight on separate connections at most; more wait for one (watches have their own pool). A war room is
 * ~35 applies sent at once, and several reconcile in parallel: enough connections that the apiserver, not this
 * pool, sets the pace, while idle ones close after IDLE_CONNECTION_MS.
 */
const MAX_REQUEST_CONNECTIONS = 32;
const IDLE_CONNECTION_MS = 60_000;

interface Pool {
  tls: TlsMaterial;
  /** Short requests, kept alive and shared. */
  requests: HttpAgent;
  /** Watches hold their connection for minutes: a pool of their own so they never starve requests, or each other. */
  watches: HttpAgent;
}

/**
 * JSON over HTTPS to the apiserver, authenticated by the connection's credentials (token, token file, client
 * certificate, exec plugin, in-cluster). Everything else — paths, SSA, watch streaming with our own timeouts — is
 * ours, so its behaviour is exactly what the tests against the real apiserver see. node:https rather than a fetch
 * library: it is part of the runtime already loaded (the undici package alone added ~13 MiB RSS at import), and
 * its bodies are plain Buffers that a list can be parsed from item by item.
 */
export class KubeRest {
  readonly #conn: KubeConnection;
  readonly server: string;
  readonly #https: boolean;
  /**
   * One pair of connection pools per TLS material: new ones only when the material changes (a rotated certificate or
   * CA file, a new client certificate from an exec plugin); the old ones close once requests in flight are done.
   */
  #pool: Pool | undefined;

  constructor(conn: KubeConnection) {
    this.#conn = conn;
    this.server = conn.server;
    this.#https = new URL(conn.server).protocol === 'https:';
  }

  #url(path: string, query?: Query): URL {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async #prepare(): Promise<{ headers: Record<string, string>; pool: Pool }> {
    const { headers, tls } = await this.#conn.credentials();
    if (this.#pool?.tls !== tls) {
      const old = this.#pool;
      // One TLS context for every connection of this material: built per connection, parsing the CA and the
      // client certificate each time was a visible share of the operator's CPU under load.
      const { ca, cert, key, ...verify } = tls;
      const secureContext = this.#https ? createSecureContext({ ca, cert, key }) : undefined;
      const agent = (maxSockets: number, maxFreeSockets: number, timeout?: number) => {
        const opts = { keepAlive: true, maxSockets, maxFreeSockets, scheduling: 'lifo' as const, timeout };
        return secureContext ? new HttpsAgent({ ...opts, ...verify, secureContext }) : new HttpAgent(opts);
      };
      // Idle request connections are kept (a new one is a TLS handshake); watches reconnect rarely.
      this.#pool = {
        tls,
        requests: agent(MAX_REQUEST_CONNECTIONS, MAX_REQUEST_CONNECTIONS, IDLE_CONNECTION_MS),
        watches: agent(Number.POSITIVE_INFINITY, 4),
      };
      // Requests in flight finish on the old pools, which close once nothing can still be using them: a request has
      // timed out by then, and a watch has reached its server-side timeout (at most 2× the reflector's 5 minutes).
      if (old) {
        setTimeout(() => old.requests.destroy(), 60_000).unref();
        setTimeout(() => old.watches.destroy(), 15 * 60_000).unref();
      }
    }
    return { headers, pool: this.#pool };
  }

  /** One HTTP exchange: resolves with the response once its headers are in; the body is the caller's to read. */
  #send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    agent: HttpAgent,
    signal: AbortSignal,
    body?: string,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const send = this.#https ? httpsRequest : httpRequest;
      const req = send(url, {
        method,
        agent,
        signal,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end(body);
    });
  }

  async #failed(method: string, path: string, res: IncomingMessage): Promise<ApiError> {
    if (res.statusCode === 401) this.#conn.invalidate();
    return ApiError.fromBody(method, path, res.statusCode ?? 0, res.statusMessage ?? '', await readText(res));
  }

  /** GET of a non-JSON body (e.g. a PEM served through the apiserver's service proxy). */
  async getText(path: string, timeoutMs = 10_000, signal?: AbortSignal): Promise<string> {
    const ctx = await this.#prepare();
    const res = await this.#send(
      'GET',
      this.#url(path),
      { ...ctx.headers, accept: '*/*' },
      ctx.pool.requests,
      withTimeout(timeoutMs, signal),
    );
    if (!ok(res)) throw await this.#failed('GET', path, res);
    return readText(res);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#exchange(method, path, opts);
    const text = await readText(res);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * GET of a list, each item handed to `onItem` as soon as it is parsed (see ListStreamParser): the caller keeps
   * what it needs of it and the rest is garbage straight away. Returns the list without its items.
   */
  async list(path: string, opts: RequestOptions, onItem: (item: unknown) => void): Promise<ListEnvelope> {
    const res = await this.#exchange('GET', path, opts);
    const parser = new ListStreamParser(onItem);
    for await (const chunk of res) parser.push(chunk as Buffer);
    return parser.end();
  }

  async #exchange(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const ctx = await this.#prepare();
    const headers: Record<string, string> = { ...ctx.headers, accept: opts.accept ?? 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const signal = withTimeout(opts.timeoutMs ?? 30_000, opts.signal);
    const res = await this.#send(method, this.#url(path, opts.query), headers, ctx.pool.requests, signal, body);
    if (!ok(res)) throw await this.#failed(method, path, res);
    return res;
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
    accept = 'application/json',
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
        const res = await this.#send('GET', url, { ...ctx.headers, accept }, ctx.pool.watches, controller.signal);
        if (!ok(res)) return await this.#failed('WATCH', path, res);
        const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
        for await (const line of lines) {
          resetIdle();
          if (!line.trim()) continue;
          onEvent(JSON.parse(line) as WatchEvent<T>);
        }
        // readline ends quietly when the socket is cut mid-stream: only a complete response is a clean close.
        if (!res.complete) throw new Error('watch stream cut before the server ended it');
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

const ok = (res: IncomingMessage) => (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A timeout, and the caller's own cancellation when it has one: whichever comes first aborts the request. */
function withTimeout(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}
