import type { RecorderStatus as FullRecorderStatus } from '../../recorder/recorder.ts';

/**
 * The operator's side of the recorder's HTTP API (src/recorder): read-only status on one port, seal/export/notices
 * on a control port that only the operator's namespace may reach. URLs come from templates with `{namespace}`, so
 * an in-cluster operator uses Service DNS and a test can point at a recorder on loopback.
 */

/** The figures the operator uses from the recorder's GET /status (its full answer also lists rooms and devices). */
export type RecorderStatus = Pick<
  FullRecorderStatus,
  'ready' | 'sealed' | 'lines' | 'events' | 'decrypted' | 'failed' | 'headHash'
>;

export interface RecorderClient {
  status(namespace: string, signal?: AbortSignal): Promise<RecorderStatus>;
  /** Catch up, write the final record, and return the unsigned export (a tar); idempotent on the recorder's side. */
  seal(namespace: string, signal?: AbortSignal): Promise<Uint8Array>;
  /** An m.notice in the war room's #control room. */
  notice(namespace: string, text: string, signal?: AbortSignal): Promise<void>;
}

export interface RecorderUrls {
  /** e.g. `http://synapse.{namespace}.svc:9101` */
  status: string;
  /** e.g. `http://synapse.{namespace}.svc:9102` */
  control: string;
}

export const DEFAULT_RECORDER_URLS: RecorderUrls = {
  status: 'http://synapse.{namespace}.svc:9101',
  control: 'http://synapse.{namespace}.svc:9102',
};

export interface HttpRecorderClientOptions {
  urls?: RecorderUrls;
  statusTimeoutMs?: number;
  /** Sealing 10 000 events with their media takes a while; a hung recorder must still fail the attempt. */
  sealTimeoutMs?: number;
  /** Refuse exports larger than this (the operator holds one export in memory while signing it). */
  maxExportBytes?: number;
}

export class RecorderUnreachableError extends Error {}

export class HttpRecorderClient implements RecorderClient {
  readonly #urls: RecorderUrls;
  readonly #statusTimeoutMs: number;
  readonly #sealTimeoutMs: number;
  readonly #maxExportBytes: number;

  constructor(opts: HttpRecorderClientOptions = {}) {
    this.#urls = opts.urls ?? DEFAULT_RECORDER_URLS;
    this.#statusTimeoutMs = opts.statusTimeoutMs ?? 3_000;
    this.#sealTimeoutMs = opts.sealTimeoutMs ?? 10 * 60_000;
    this.#maxExportBytes = opts.maxExportBytes ?? 2 * 1024 ** 3;
  }

  async status(namespace: string, signal?: AbortSignal): Promise<RecorderStatus> {
    const res = await this.#fetch(
      this.#url('status', namespace, '/status'),
      { method: 'GET' },
      this.#statusTimeoutMs,
      signal,
    );
    const body = (await res.json()) as Partial<RecorderStatus>;
    return {
      ready: body.ready === true,
      sealed: body.sealed === true,
      lines: num(body.lines),
      events: num(body.events),
      decrypted: num(body.decrypted),
      failed: num(body.failed),
      headHash: typeof body.headHash === 'string' && /^[0-9a-f]{64}$/.test(body.headHash) ? body.headHash : '',
    };
  }

  async seal(namespace: string, signal?: AbortSignal): Promise<Uint8Array> {
    const res = await this.#fetch(
      this.#url('control', namespace, '/seal'),
      { method: 'POST' },
      this.#sealTimeoutMs,
      signal,
    );
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > this.#maxExportBytes) {
      await res.body?.cancel();
      throw new RecorderUnreachableError(`the export is ${declared} bytes, over the ${this.#maxExportBytes} limit`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.byteLength > this.#maxExportBytes) {
      throw new RecorderUnreachableError(`the export is over the ${this.#maxExportBytes}-byte limit`);
    }
    return bytes;
  }

  async notice(namespace: string, text: string, signal?: AbortSignal): Promise<void> {
    await this.#fetch(
      this.#url('control', namespace, '/notices'),
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) },
      this.#statusTimeoutMs,
      signal,
    );
  }

  #url(kind: keyof RecorderUrls, namespace: string, path: string): string {
    return `${this.#urls[kind].replaceAll('{namespace}', encodeURIComponent(namespace)).replace(/\/$/, '')}${path}`;
  }

  async #fetch(url: string, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      const timeout = AbortSignal.timeout(timeoutMs);
      res = await fetch(url, { ...init, signal: signal ? AbortSignal.any([timeout, signal]) : timeout });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
      throw new RecorderUnreachableError(`recorder at ${new URL(url).host} unreachable: ${why}`);
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => '')).slice(0, 300);
      throw new RecorderUnreachableError(
        `recorder answered ${res.status} to ${init.method} ${new URL(url).pathname}: ${text}`,
      );
    }
    return res;
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);
