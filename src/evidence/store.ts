// Where signed evidence archives are kept. The file store writes atomically (temp file, fsync, link, fsync dir),
// never replaces an existing archive (a different archive under a taken name gets a suffix; the same bytes are
// simply found again), and keeps files 0600.
import { createHash } from 'node:crypto';
import { link, mkdir, readFile, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fsyncDir, writeDurableTemp } from './durable-file.ts';

export interface PutOptions {
  /** Put a legal hold on the stored archive (stores that cannot hold return `legalHold: false`). */
  legalHold?: boolean;
  /**
   * When the name is already taken by other bytes: whether those bytes stand for this archive (the same signed
   * manifest with an earlier timestamp, stored by a previous attempt). Then they are kept and returned.
   */
  acceptExisting?: (existing: Uint8Array) => boolean | Promise<boolean>;
}

export interface StoredEvidence {
  location: string;
  sha256: string;
  /** Until when the store refuses to delete or overwrite it (write-once stores). */
  retainUntil?: Date;
  legalHold?: boolean;
}

export interface EvidenceStore {
  put(name: string, bytes: Uint8Array, opts?: PutOptions): Promise<StoredEvidence>;
  get(location: string): Promise<Uint8Array>;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const MAX_SUFFIX = 1000;

export class FileEvidenceStore implements EvidenceStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  async put(name: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<StoredEvidence> {
    if (!SAFE_NAME.test(name) || name.includes('..')) {
      throw new Error(`evidence name ${JSON.stringify(name)} must be a plain file name ([A-Za-z0-9._-], no path)`);
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = await writeDurableTemp(join(this.dir, `.${name}`), bytes);
    try {
      for (let i = 0; i < MAX_SUFFIX; i++) {
        const candidate = join(this.dir, i === 0 ? name : suffixed(name, i));
        try {
          // link() never replaces an existing file, unlike rename().
          await link(tmp, candidate);
          await fsyncDir(this.dir);
          return { location: candidate, sha256 };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const existing = await readFile(candidate);
          const existingSha = createHash('sha256').update(existing).digest('hex');
          if (existingSha === sha256) return { location: candidate, sha256 };
          if (await opts.acceptExisting?.(existing)) return { location: candidate, sha256: existingSha };
        }
      }
      throw new Error(`evidence store ${this.dir}: ${MAX_SUFFIX} different archives are already named ${name}`);
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  async get(location: string): Promise<Uint8Array> {
    const path = resolve(this.dir, location);
    const rel = relative(this.dir, path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.includes('/')) {
      throw new Error(`evidence location ${JSON.stringify(location)} is not in the store ${this.dir}`);
    }
    return new Uint8Array(await readFile(path));
  }
}

function suffixed(name: string, i: number): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)}-${i}${name.slice(dot)}` : `${name}-${i}`;
}
