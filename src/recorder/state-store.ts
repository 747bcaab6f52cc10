import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../evidence/durable-file.ts';

/**
 * What the recorder remembers between runs, besides the transcript and the key vault: the device it logged in
 * with (deleted at the next start), one /messages cursor per room (written only AFTER the records up to it are
 * durable in the transcript, so a crash replays rather than skips), and the devices already seen per user (for the
 * new-device notices: no re-announcement after a restart).
 */
export interface RecorderState {
  version: 1;
  deviceId?: string;
  /** roomId → the `end` token of the last fully recorded /messages page. */
  cursors: Record<string, string>;
  /** userId → device ids known (baseline or announced). */
  devices: Record<string, string[]>;
}

const FILE = 'recorder-state.json';

export class StateStore {
  readonly #path: string;
  #state: RecorderState = { version: 1, cursors: {}, devices: {} };
  /** Writes are serialised, so an older snapshot never lands after a newer one. */
  #chain: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.#path = join(dir, FILE);
  }

  async load(): Promise<RecorderState> {
    try {
      const raw = JSON.parse(await readFile(this.#path, 'utf8')) as Partial<RecorderState>;
      if (raw.version !== 1) throw new Error(`unknown state version ${String(raw.version)}`);
      this.#state = {
        version: 1,
        ...(typeof raw.deviceId === 'string' ? { deviceId: raw.deviceId } : {}),
        cursors: { ...(raw.cursors ?? {}) },
        devices: { ...(raw.devices ?? {}) },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${this.#path}: ${(err as Error).message}`);
    }
    return this.#state;
  }

  get state(): Readonly<RecorderState> {
    return this.#state;
  }

  update(change: (state: RecorderState) => void): Promise<void> {
    change(this.#state);
    const snapshot = JSON.stringify(this.#state);
    this.#chain = this.#chain.catch(() => {}).then(() => writeFileAtomic(this.#path, snapshot));
    return this.#chain;
  }
}
