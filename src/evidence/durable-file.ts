import { randomBytes } from 'node:crypto';
import { constants, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Crash-safe file writes for the evidence and the recorder's state: content goes to a fresh sibling temp file that
 * is fsync'd before it is put in place, and the directory is fsync'd after, so a power loss leaves either the old or
 * the new file, never a torn one, and the new name itself survives.
 */

/** Writes `data` to a new temp file beside `path` (never an existing one), fsync'd; returns the temp file's path. */
export async function writeDurableTemp(path: string, data: string | Uint8Array, mode = 0o600): Promise<string> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

export async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Replaces `path` with `data` atomically and durably. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = await writeDurableTemp(path, data, mode);
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}
