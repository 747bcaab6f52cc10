import { Worker } from 'node:worker_threads';
import type { SdkRequest, SdkWorkerData } from './matrix-sdk-worker.ts';

/** A real Matrix client (matrix-js-sdk + Rust crypto) for one user, living in its own worker thread. */
export interface SdkUser {
  userId: string;
  deviceId: string;
  accessToken: string;
  joinRoom(roomId: string): Promise<void>;
  waitForMembership(roomId: string, membership: 'invite' | 'join', timeoutMs?: number): Promise<void>;
  isEncryptionEnabled(roomId: string): Promise<boolean>;
  /** Returns the event id. */
  sendText(roomId: string, body: string): Promise<string>;
  /** Resolves once this client holds `body` decrypted from an m.room.encrypted event. */
  waitForDecryptedMessage(
    roomId: string,
    body: string,
    timeoutMs?: number,
  ): Promise<{ sender: string; eventId: string; wireType: string }>;
  /** Sends any (room) event; encrypted in an E2EE room. Returns the event id. */
  sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string>;
  /** Returns the redaction's event id. */
  redact(roomId: string, eventId: string, reason?: string): Promise<string>;
  /** Uploads `data` as an encrypted attachment (AES-256-CTR, spec v2) and sends an m.file. Returns the event id. */
  sendEncryptedFile(roomId: string, name: string, data: Uint8Array, mimetype?: string): Promise<string>;
  /** Resolves once this client holds a decrypted m.room.message whose body contains `contains`. */
  waitForDecryptedText(
    roomId: string,
    contains: string,
    timeoutMs?: number,
  ): Promise<{ sender: string; eventId: string; body: string }>;
  /** This client's view of another device (null when it does not know the device). */
  deviceVerification(
    userId: string,
    deviceId: string,
  ): Promise<{ signedByOwner: boolean; crossSigningVerified: boolean; localVerified: boolean } | null>;
  /** Logs the device out and ends the worker. */
  stop(): Promise<void>;
}

type Reply =
  | { ready: { userId: string; deviceId: string; accessToken: string } }
  | { startError: string }
  | { id: number; result?: unknown; error?: string };

export function startSdkUser(baseUrl: string, username: string, password: string): Promise<SdkUser> {
  const data: SdkWorkerData = { baseUrl, username, password };
  const worker = new Worker(new URL('./matrix-sdk-worker.ts', import.meta.url), { workerData: data });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const call = <T>(request: SdkRequest): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, request });
    });

  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (reply: Reply) => {
      if ('startError' in reply) {
        void worker.terminate();
        reject(new Error(`${username}: ${reply.startError}`));
      } else if ('ready' in reply) {
        const { userId, deviceId, accessToken } = reply.ready;
        resolve({
          userId,
          deviceId,
          accessToken,
          joinRoom: (roomId) => call({ op: 'joinRoom', roomId }),
          waitForMembership: (roomId, membership, timeoutMs = 30_000) =>
            call({ op: 'waitForMembership', roomId, membership, timeoutMs }),
          isEncryptionEnabled: (roomId) => call({ op: 'isEncryptionEnabled', roomId }),
          sendText: (roomId, body) => call({ op: 'sendText', roomId, body }),
          waitForDecryptedMessage: (roomId, body, timeoutMs = 30_000) =>
            call({ op: 'waitForDecryptedMessage', roomId, body, timeoutMs }),
          sendEvent: (roomId, type, content) => call({ op: 'sendEvent', roomId, type, content }),
          redact: (roomId, eventId, reason) =>
            call({ op: 'redact', roomId, eventId, ...(reason === undefined ? {} : { reason }) }),
          sendEncryptedFile: (roomId, name, data, mimetype = 'application/octet-stream') =>
            call({
              op: 'sendEncryptedFile',
              roomId,
              name,
              dataBase64: Buffer.from(data).toString('base64'),
              mimetype,
            }),
          waitForDecryptedText: (roomId, contains, timeoutMs = 30_000) =>
            call({ op: 'waitForDecryptedText', roomId, contains, timeoutMs }),
          deviceVerification: (userId, deviceId) => call({ op: 'deviceVerification', userId, deviceId }),
          async stop() {
            await call({ op: 'stop' }).catch(() => {});
            await worker.terminate();
          },
        });
      } else {
        const waiter = pending.get(reply.id);
        pending.delete(reply.id);
        if (reply.error !== undefined) waiter?.reject(new Error(`${username}: ${reply.error}`));
        else waiter?.resolve(reply.result);
      }
    });
  });
}
