// Runs one real matrix-js-sdk client (Rust crypto in WASM, in-memory store) inside a worker thread, driven by
// matrix-sdk-client.ts. Why a worker: the SDK arms a 110 s timer per /sync request that stopClient() never
// clears, which would hold a test process open for two minutes; terminating the worker ends it cleanly.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { ClientEvent, createClient, type MatrixClient, SyncState } from 'matrix-js-sdk';
import { type Logger, logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';

export type SdkRequest =
  | { op: 'joinRoom'; roomId: string }
  | { op: 'waitForMembership'; roomId: string; membership: 'invite' | 'join'; timeoutMs: number }
  | { op: 'isEncryptionEnabled'; roomId: string }
  | { op: 'sendText'; roomId: string; body: string }
  | { op: 'waitForDecryptedMessage'; roomId: string; body: string; timeoutMs: number }
  | { op: 'sendEvent'; roomId: string; type: string; content: Record<string, unknown> }
  | { op: 'redact'; roomId: string; eventId: string; reason?: string }
  | { op: 'sendEncryptedFile'; roomId: string; name: string; dataBase64: string; mimetype: string }
  | { op: 'waitForDecryptedText'; roomId: string; contains: string; timeoutMs: number }
  | { op: 'deviceVerification'; userId: string; deviceId: string }
  | { op: 'stop' };

export interface SdkWorkerData {
  baseUrl: string;
  username: string;
  password: string;
}

let stopping = false;
// The SDK logs every sync and key upload; only errors matter to a test (and not the aborts stop() causes).
const quietLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: (...msg: unknown[]) => {
    if (!stopping) console.error('[matrix-js-sdk]', ...msg);
  },
  getChild: () => quietLogger,
};

// Parts of the SDK (event queue, MatrixRTC, decryption) log through its global loglevel logger, not the client's.
const globalLogger = sdkGlobalLogger as unknown as {
  methodFactory: (method: string) => (...msg: unknown[]) => void;
  rebuild(): void;
};
globalLogger.methodFactory =
  (method) =>
  (...msg) => {
    if (method === 'error' && !stopping) console.error('[matrix-js-sdk]', ...msg);
  };
globalLogger.rebuild();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(data: SdkWorkerData): Promise<{ client: MatrixClient; accessToken: string }> {
  const anonymous = createClient({ baseUrl: data.baseUrl, logger: quietLogger });
  const login = await anonymous.loginRequest({
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user: data.username },
    password: data.password,
    initial_device_display_name: 'warroom e2e',
  });
  const client = createClient({
    baseUrl: data.baseUrl,
    userId: login.user_id,
    accessToken: login.access_token,
    deviceId: login.device_id,
    logger: quietLogger,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const prepared = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${data.username}: first sync not done in 30 s`)), 30_000);
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Prepared) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
  return { client, accessToken: login.access_token };
}

async function handle(client: MatrixClient, request: SdkRequest): Promise<unknown> {
  switch (request.op) {
    case 'joinRoom':
      await client.joinRoom(request.roomId);
      return null;
    case 'waitForMembership': {
      const deadline = Date.now() + request.timeoutMs;
      while (Date.now() < deadline) {
        if (client.getRoom(request.roomId)?.getMyMembership() === request.membership) return null;
        await sleep(100);
      }
      throw new Error(`not in ${request.membership} state for ${request.roomId} after ${request.timeoutMs} ms`);
    }
    case 'isEncryptionEnabled':
      return (await client.getCrypto()?.isEncryptionEnabledInRoom(request.roomId)) ?? false;
    case 'sendText':
      return (await client.sendTextMessage(request.roomId, request.body)).event_id;
    case 'waitForDecryptedMessage': {
      const deadline = Date.now() + request.timeoutMs;
      while (Date.now() < deadline) {
        const events = client.getRoom(request.roomId)?.getLiveTimeline().getEvents() ?? [];
        const match = events.find(
          (e) => e.isEncrypted() && e.getType() === 'm.room.message' && e.getContent().body === request.body,
        );
        if (match) return { sender: match.getSender(), eventId: match.getId(), wireType: match.getWireType() };
        await sleep(200);
      }
      throw new Error(`no decrypted message ${JSON.stringify(request.body)} in ${request.roomId}`);
    }
    case 'sendEvent':
      // biome-ignore lint/suspicious/noExplicitAny: the SDK types content per event type; tests send arbitrary ones
      return (await client.sendEvent(request.roomId, request.type as any, request.content as any)).event_id;
    case 'redact':
      return (
        await client.redactEvent(
          request.roomId,
          request.eventId,
          undefined,
          request.reason ? { reason: request.reason } : {},
        )
      ).event_id;
    case 'sendEncryptedFile': {
      // The spec's encrypted attachment: AES-256-CTR, key as a JWK, 16-byte iv with a zero counter half, and the
      // sha256 of the ciphertext (unpadded base64).
      const plain = Buffer.from(request.dataBase64, 'base64');
      const key = randomBytes(32);
      const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
      const cipher = createCipheriv('aes-256-ctr', key, iv);
      const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
      const unpadded = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
      const upload = await client.uploadContent(ciphertext, {
        type: 'application/octet-stream',
        includeFilename: false,
      });
      const content = {
        msgtype: 'm.file',
        body: request.name,
        info: { mimetype: request.mimetype, size: plain.length },
        file: {
          v: 'v2',
          url: upload.content_uri,
          key: { kty: 'oct', alg: 'A256CTR', ext: true, key_ops: ['encrypt', 'decrypt'], k: key.toString('base64url') },
          iv: unpadded(iv),
          hashes: { sha256: unpadded(createHash('sha256').update(ciphertext).digest()) },
        },
      };
      // biome-ignore lint/suspicious/noExplicitAny: an m.file content with an encrypted file object
      return (await client.sendMessage(request.roomId, content as any)).event_id;
    }
    case 'waitForDecryptedText': {
      const deadline = Date.now() + request.timeoutMs;
      while (Date.now() < deadline) {
        const events = client.getRoom(request.roomId)?.getLiveTimeline().getEvents() ?? [];
        const match = events.find(
          (e) =>
            e.isEncrypted() &&
            e.getType() === 'm.room.message' &&
            String(e.getContent().body ?? '').includes(request.contains),
        );
        if (match) return { sender: match.getSender(), eventId: match.getId(), body: match.getContent().body };
        await sleep(200);
      }
      throw new Error(`no decrypted message containing ${JSON.stringify(request.contains)} in ${request.roomId}`);
    }
    case 'deviceVerification': {
      const status = await client.getCrypto()?.getDeviceVerificationStatus(request.userId, request.deviceId);
      return status
        ? {
            signedByOwner: status.signedByOwner,
            crossSigningVerified: status.crossSigningVerified,
            localVerified: status.localVerified,
          }
        : null;
    }
    case 'stop':
      stopping = true;
      client.stopClient();
      await client.logout(true).catch(() => {});
      return null;
  }
}

const port = parentPort;
if (!port) throw new Error('matrix-sdk-worker.ts must run in a worker thread');
try {
  const { client, accessToken } = await start(workerData as SdkWorkerData);
  port.postMessage({ ready: { userId: client.getUserId(), deviceId: client.getDeviceId(), accessToken } });
  port.on('message', (message: { id: number; request: SdkRequest }) => {
    handle(client, message.request).then(
      (result) => port.postMessage({ id: message.id, result }),
      (error: unknown) =>
        port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
} catch (error) {
  port.postMessage({ startError: error instanceof Error ? error.message : String(error) });
}
