// signExport and verifyArchive take about 30 ms per 1 000 events of synchronous CPU (hashing, JSON, HTML
// rendering). Inside the operator that would stall its event loop (reconciles, the API, lease renewals) for
// seconds on a long incident, so these variants run them in a short-lived worker thread.
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { SignOptions } from './archive.ts';
import type { VerifyOptions, VerifyReport } from './verify.ts';

export type OffloadRequest =
  | { op: 'sign'; bytes: Uint8Array; key: KeyObject; opts?: SignOptions }
  | { op: 'verify'; bytes: Uint8Array; opts: VerifyOptions };

export type OffloadResponse = { ok: true; value: Uint8Array | VerifyReport } | { ok: false; message: string };

const WORKER = new URL('./offload-worker.ts', import.meta.url);

/** signExport in a worker thread; rejects with the same message signExport would throw. */
export async function signExportOffThread(
  tarBytes: Uint8Array,
  key: KeyObject,
  timeoutMs = 300_000,
  opts: SignOptions = {},
): Promise<Uint8Array> {
  return (await run({ op: 'sign', bytes: tarBytes, key, opts }, timeoutMs)) as Uint8Array;
}

/** verifyArchive in a worker thread. */
export async function verifyArchiveOffThread(
  bytes: Uint8Array,
  opts: VerifyOptions = {},
  timeoutMs = 300_000,
): Promise<VerifyReport> {
  return (await run({ op: 'verify', bytes, opts }, timeoutMs)) as VerifyReport;
}

function run(request: OffloadRequest, timeoutMs: number): Promise<Uint8Array | VerifyReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: request });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(
      () => settle(() => reject(new Error(`evidence ${request.op} did not finish within ${timeoutMs} ms`))),
      timeoutMs,
    );
    worker.once('message', (res: OffloadResponse) =>
      settle(() => (res.ok ? resolve(res.value) : reject(new Error(res.message)))),
    );
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) =>
      settle(() => reject(new Error(`evidence ${request.op} worker exited (code ${code}) without an answer`))),
    );
  });
}
