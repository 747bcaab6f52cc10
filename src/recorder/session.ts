import { ClientEvent, createClient, type MatrixClient, MatrixError, SyncState } from 'matrix-js-sdk';
import type { AuthDict } from 'matrix-js-sdk/lib/interactive-auth.js';
import { type Logger as SdkLogger, logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger } from '../observability/logger.ts';
import type { RecorderConfig } from './config.ts';
import type { KeyVault, VaultEntry } from './key-vault.ts';
import type { StateStore } from './state-store.ts';

/**
 * The recorder's Matrix session: a password login (a NEW device each start: the Rust crypto store is in memory,
 * there is no IndexedDB in Node), crypto, the cross-signing identity, and the clean-up of the previous device.
 *
 * Restart: the room keys and the cross-signing secrets come back from the encrypted vault on the volume, the new
 * device is signed with the SAME identity (participants see no identity change), and every other device of the
 * recorder account is deleted so that senders stop encrypting for a dead device.
 *
 * What a restart can still lose, in theory: while the recorder was down, a sender that STARTED a new Megolm session
 * (rotation after 100 messages or a week, or after a membership or device change) shared that session's key only
 * with the devices that existed then, i.e. the dead device, whose Olm keys died with the process. Messages in such a
 * session are recorded with their ciphertext and `decryption: 'failed'` (MEGOLM_UNKNOWN_INBOUND_SESSION_ID) until
 * the sender re-shares. The common case, a conversation continuing in sessions the recorder already held, decrypts
 * after the restart because those sessions' keys are in the vault (exported before the cursor moved past them).
 */

export interface RecorderSession {
  client: MatrixClient;
  accessToken: string;
  deviceId: string;
  /** Set when the previous device's identity was reused; false when a new identity was created. */
  identityRestored: boolean;
  /** Devices of the recorder account that were deleted (previous runs). */
  deletedDevices: string[];
}

const FIRST_SYNC_TIMEOUT_MS = 120_000;
const OWN_SIGNATURE_WAIT_MS = 15_000;

/**
 * A vault file that cannot be opened (the password was rotated, the file is damaged) must not keep the recorder
 * from recording: it is set aside (kept for a human, never overwritten) and the recorder starts without it.
 */
async function readVault(vault: KeyVault, entry: VaultEntry, log: Logger): Promise<string | undefined> {
  try {
    return await vault.read(entry);
  } catch (err) {
    const aside = await vault.setAside(entry);
    log.error({ entry, reason: (err as Error).message, keptAs: aside }, 'vault file unreadable; starting without it');
    return undefined;
  }
}

async function waitForOwnSignature(
  client: MatrixClient,
  userId: string,
  deviceId: string,
  timeoutMs: number,
): Promise<number | undefined> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await client.getCrypto()?.getDeviceVerificationStatus(userId, deviceId);
    if (status?.signedByOwner) return Math.round(performance.now() - started);
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** The SDK is chatty; its debug lines go to trace, its errors to warn. Lines are joined strings, never objects. */
function sdkLogger(log: Logger): SdkLogger {
  const line = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ');
  const logger: SdkLogger = {
    trace: () => {},
    debug: (...msg) => log.trace({ sdk: line(msg) }, 'matrix-js-sdk'),
    info: (...msg) => log.debug({ sdk: line(msg) }, 'matrix-js-sdk'),
    warn: (...msg) => log.debug({ sdk: line(msg) }, 'matrix-js-sdk'),
    error: (...msg) => log.warn({ sdk: line(msg) }, 'matrix-js-sdk'),
    getChild: () => logger,
  };
  return logger;
}

/**
 * Parts of the SDK (the event queue, MatrixRTC, event decryption) log through its global loglevel logger straight
 * to the console, which would put non-JSON lines into the recorder's log. Route them through pino as well.
 */
function routeSdkGlobalLogger(log: Logger): void {
  const global = sdkGlobalLogger as unknown as {
    methodFactory: (method: string) => (...msg: unknown[]) => void;
    rebuild?: () => void;
    setLevel: (level: string, persist?: boolean) => void;
  };
  const line = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ');
  global.methodFactory =
    (method) =>
    (...msg) => {
      if (method === 'error') log.warn({ sdk: line(msg) }, 'matrix-js-sdk');
      else log.trace({ sdk: line(msg) }, 'matrix-js-sdk');
    };
  if (global.rebuild) global.rebuild();
  else global.setLevel('debug', false);
}

export async function openSession(
  config: RecorderConfig,
  password: string,
  state: StateStore,
  vault: KeyVault,
  log: Logger,
): Promise<RecorderSession> {
  const quiet = sdkLogger(log);
  routeSdkGlobalLogger(log);
  const identifier = { type: 'm.id.user', user: config.user };
  const passwordAuth = (session?: string): AuthDict => ({
    type: 'm.login.password',
    identifier,
    password,
    ...(session ? { session } : {}),
  });
  const login = await createClient({ baseUrl: config.homeserverUrl, logger: quiet }).loginRequest({
    type: 'm.login.password',
    identifier,
    password,
    initial_device_display_name: 'warroom recorder',
  });
  if (login.user_id !== config.userId) throw new Error(`logged in as ${login.user_id}, expected ${config.userId}`);
  // Remember the new device before anything else, so a crash now still gets it cleaned up next time.
  await state.update((s) => {
    s.deviceId = login.device_id;
  });
  log.info({ userId: login.user_id, deviceId: login.device_id }, 'logged in');

  const client = createClient({
    baseUrl: config.homeserverUrl,
    userId: login.user_id,
    accessToken: login.access_token,
    deviceId: login.device_id,
    logger: quiet,
  });
  try {
    return await setUpDevice(client, login, passwordAuth, vault, log);
  } catch (err) {
    // The next attempt logs in again (and deletes this device); this client must not go on syncing meanwhile.
    client.stopClient();
    throw err;
  }
}

async function setUpDevice(
  client: MatrixClient,
  login: { user_id: string; device_id: string; access_token: string },
  passwordAuth: (session?: string) => AuthDict,
  vault: KeyVault,
  log: Logger,
): Promise<RecorderSession> {
  await client.initRustCrypto({ useIndexedDB: false });
  const crypto = client.getCrypto();
  if (!crypto) throw new Error('crypto did not initialise');

  const roomKeys = await readVault(vault, 'roomKeys', log);
  if (roomKeys) {
    await crypto.importRoomKeysAsJson(roomKeys);
    log.info({ sessions: (JSON.parse(roomKeys) as unknown[]).length }, 'room keys restored from the vault');
  }

  const prepared = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('first sync not done in time')), FIRST_SYNC_TIMEOUT_MS);
    const onSync = (syncState: SyncState) => {
      if (syncState === SyncState.Prepared || syncState === SyncState.Syncing) {
        clearTimeout(timer);
        client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  // Timeline contents do not matter (capture pages /messages itself); a small initial sync is quicker.
  await client.startClient({ initialSyncLimit: 1, lazyLoadMembers: false });
  await prepared;

  let identityRestored = false;
  const bundle = await readVault(vault, 'secrets', log);
  if (bundle) {
    try {
      // The import checks the private keys against the public identity, which must be downloaded first.
      await crypto.getUserDeviceInfo([login.user_id], true);
      await crypto.importSecretsBundle?.(JSON.parse(bundle));
      await crypto.crossSignDevice(login.device_id);
      identityRestored = true;
      log.info({ deviceId: login.device_id }, 'new device cross-signed with the existing identity');
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'cannot restore the cross-signing identity; creating a new one');
    }
  }
  if (!identityRestored) {
    await crypto.bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest(passwordAuth());
      },
    });
    const secrets = await crypto.exportSecretsBundle?.();
    if (secrets) await vault.write('secrets', JSON.stringify(secrets));
    log.info({ deviceId: login.device_id }, 'cross-signing identity created; device cross-signed');
  }

  // Right after bootstrapCrossSigning (or the signature upload for a restored identity) the device reads
  // signedByOwner: false, for the recorder itself and for every participant: each holds a cached copy of the
  // recorder's device keys taken before the signature existed. The server then lists the recorder in
  // device_lists.changed on everyone's next /sync, each client re-queries /keys/query, and the flag turns true
  // (about 200 ms on a local Synapse; measured with matrix-js-sdk 43). Wait for our own view, bounded.
  const signedAfterMs = await waitForOwnSignature(client, login.user_id, login.device_id, OWN_SIGNATURE_WAIT_MS);
  if (signedAfterMs === undefined) log.warn({ deviceId: login.device_id }, 'device not yet seen as cross-signed');
  else log.info({ deviceId: login.device_id, ms: signedAfterMs }, 'device seen as cross-signed by its owner');

  const deletedDevices: string[] = [];
  const { devices } = await client.getDevices();
  for (const device of devices) {
    if (device.device_id === login.device_id) continue;
    try {
      await client.deleteDevice(device.device_id, passwordAuth()).catch(async (err: unknown) => {
        // Synapse accepts the password without a UIA session; a server that insists gets the session back.
        const session = err instanceof MatrixError ? (err.data as { session?: string }).session : undefined;
        if (!session) throw err;
        await client.deleteDevice(device.device_id, passwordAuth(session));
      });
      deletedDevices.push(device.device_id);
    } catch (err) {
      log.warn({ deviceId: device.device_id, reason: (err as Error).message }, 'previous device not deleted');
    }
  }
  if (deletedDevices.length > 0) log.info({ deviceIds: deletedDevices }, 'previous recorder devices deleted');

  return { client, accessToken: login.access_token, deviceId: login.device_id, identityRestored, deletedDevices };
}
