import { matrixRequest } from '../matrix/matrix-http.ts';
import type { Logger } from '../observability/logger.ts';
import type { StateStore } from './state-store.ts';

/**
 * The device audit trail: when a member of a room the recorder is in shows a device id not seen before, a notice
 * goes to #control ("@alice:server logged in from a new device ABCDEFGH ("Element Web")"). A user's devices at the
 * moment the recorder first sees them are a baseline, not announced. Known devices live in the state file, so a
 * restart announces nothing twice. Device lists come from /keys/query directly (the recorder's crypto only tracks
 * the users it encrypts for), on every device-list change the SDK reports and on a timer.
 */

interface KeysQueryResponse {
  device_keys?: Record<string, Record<string, { unsigned?: { device_display_name?: string } }>>;
}

export interface DeviceAuditOptions {
  baseUrl: string;
  accessToken: string;
  ownUserId: string;
  state: StateStore;
  log: Logger;
  /** The users to watch: joined members of the recorder's rooms. */
  members: () => string[];
  announce: (text: string) => Promise<void>;
}

export function newDeviceNotice(userId: string, deviceId: string, displayName: string | undefined): string {
  return `${userId} logged in from a new device ${deviceId}${displayName ? ` (${JSON.stringify(displayName)})` : ''}`;
}

export class DeviceAudit {
  readonly #o: DeviceAuditOptions;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(options: DeviceAuditOptions) {
    this.#o = options;
  }

  /** Runs a pass now, or once more after the pass in progress. */
  check(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#pass();
        } while (this.#again);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #pass(): Promise<void> {
    const { state, log } = this.#o;
    const users = [...new Set(this.#o.members())].filter((u) => u !== this.#o.ownUserId).sort();
    if (users.length === 0) return;
    const result = await matrixRequest<KeysQueryResponse>(this.#o.baseUrl, 'POST', '/_matrix/client/v3/keys/query', {
      accessToken: this.#o.accessToken,
      body: { device_keys: Object.fromEntries(users.map((u) => [u, []])), timeout: 10_000 },
    });
    const notices: string[] = [];
    const baseline: Record<string, string[]> = {};
    const added: Record<string, string[]> = {};
    for (const userId of users) {
      const devices = result.device_keys?.[userId] ?? {};
      const known = state.state.devices[userId];
      if (known === undefined) {
        baseline[userId] = Object.keys(devices);
        continue;
      }
      const fresh = Object.keys(devices).filter((d) => !known.includes(d));
      if (fresh.length === 0) continue;
      added[userId] = fresh;
      for (const deviceId of fresh) {
        notices.push(newDeviceNotice(userId, deviceId, devices[deviceId]?.unsigned?.device_display_name));
      }
    }
    if (Object.keys(baseline).length === 0 && notices.length === 0) return;
    // Announce first, then remember: a crash in between re-announces (at least once) rather than never.
    for (const text of notices) await this.#o.announce(text);
    await state.update((s) => {
      for (const [userId, ids] of Object.entries(baseline)) s.devices[userId] = ids;
      for (const [userId, ids] of Object.entries(added)) s.devices[userId] = [...(s.devices[userId] ?? []), ...ids];
    });
    if (Object.keys(baseline).length > 0) log.info({ users: Object.keys(baseline) }, 'device baseline recorded');
    for (const [userId, ids] of Object.entries(added)) log.info({ userId, deviceIds: ids }, 'new device announced');
  }
}
