// Runs one real matrix-js-sdk client (Rust crypto in WASM, in-memory store) inside a worker thread, driven by
// matrix-sdk-client.ts. Why a worker: the SDK arms a 110 s timer per /sync request that stopClient() never
// clears, which would hold a test process open for two minutes; terminating the worker ends it cleanly.
import { parentPort, workerData } from 'node:worker_threads';
import { ClientEvent, createClient, type MatrixClient, SyncState } from 'matrix-js-sdk';
import type { Logger } from 'matrix-js-sdk/lib/logger.js';

export type SdkRequest =
  | { op: 'joinRoom'; roomId: string }
  | { op: 'waitForMembership'; roomId: string; membership: 'invite' | 'join'; timeoutMs: number }
  | { op: 'isEncryptionEnabled'; roomId: string }
  | { op: 'sendText'; roomId: string; body: string }
  | { op: 'waitForDecryptedMessage'; roomId: string; body: string; timeoutMs: number }
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
