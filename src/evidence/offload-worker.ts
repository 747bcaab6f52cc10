// The worker thread behind offload.ts: one request in workerData, one answer posted back.
import { parentPort, workerData } from 'node:worker_threads';
import { signExport } from './archive.ts';
import type { OffloadRequest, OffloadResponse } from './offload.ts';
import { verifyArchive } from './verify.ts';

const request = workerData as OffloadRequest;
let response: OffloadResponse;
try {
  response =
    request.op === 'sign'
      ? { ok: true, value: signExport(request.bytes, request.key, request.opts) }
      : { ok: true, value: verifyArchive(request.bytes, request.opts) };
} catch (err) {
  response = { ok: false, message: err instanceof Error ? err.message : String(err) };
}
parentPort?.postMessage(response);
