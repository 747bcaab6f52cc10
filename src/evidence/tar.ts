// A small, strict POSIX ustar writer and reader for evidence archives. The writer is deterministic (sorted entries,
// one mtime, uid/gid 0, mode 0644, regular files only). The reader accepts only what the writer produces: every
// header must re-encode to the exact same 512 bytes, padding and the end-of-archive blocks must be zeros, and
// nothing may follow them, so any changed byte of an archive is detected by the reader or by a content hash.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const BLOCK = 512;
const OCTAL_SIZE_MAX = 8 ** 11; // 11 octal digits; larger sizes use the base-256 (GNU) encoding
const NAME_MAX = 99;
const SAFE_NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

export class TarError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`tar: ${message} (at byte ${offset})`);
    this.name = 'TarError';
    this.offset = offset;
  }
}

/** Why a name is unsafe in an evidence archive, or undefined when it is fine. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.length > NAME_MAX) return `name longer than ${NAME_MAX} characters`;
  if (!SAFE_NAME.test(name)) return 'name has characters outside [A-Za-z0-9._-/] or an empty/absolute path segment';
  if (name.split('/').some((s) => s === '.' || s === '..')) return 'name has a . or .. segment (path traversal)';
  return undefined;
}

/** Seconds since the epoch of a Date, as tar stores it. */
export function tarMtime(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** Writes entries sorted by name into one ustar archive. */
export function writeTar(entries: readonly TarEntry[], mtimeSeconds: number): Uint8Array {
  if (!Number.isSafeInteger(mtimeSeconds) || mtimeSeconds < 0 || mtimeSeconds >= OCTAL_SIZE_MAX) {
    throw new Error(`tar: mtime ${mtimeSeconds} is out of range`);
  }
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let total = 2 * BLOCK;
  for (const [i, e] of sorted.entries()) {
    const reason = unsafeNameReason(e.name);
    if (reason) throw new Error(`tar: cannot write ${JSON.stringify(e.name)}: ${reason}`);
    if (i > 0 && sorted[i - 1]!.name === e.name) throw new Error(`tar: duplicate entry ${e.name}`);
    total += BLOCK + padded(e.data.length);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const e of sorted) {
    out.set(encodeHeader(e.name, e.data.length, mtimeSeconds), off);
    out.set(e.data, off + BLOCK);
    off += BLOCK + padded(e.data.length);
  }
  return out;
}

/** Reads an archive written by writeTar; throws TarError on anything else. Entries are views into `bytes`. */
export function readTar(bytes: Uint8Array): { entries: TarEntry[]; mtime: number } {
  const entries: TarEntry[] = [];
  const rules = new EntryRules();
  let off = 0;
  for (;;) {
    if (off + BLOCK > bytes.length) throw new TarError('archive ends without the two zero end blocks', off);
    const header = bytes.subarray(off, off + BLOCK);
    if (isZero(header)) {
      checkEnd(bytes.subarray(off + BLOCK, off + 2 * BLOCK), off, bytes.length);
      break;
    }
    const h = rules.next(header, off);
    const start = off + BLOCK;
    const end = start + h.size;
    const next = start + padded(h.size);
    if (next > bytes.length) throw new TarError(`entry ${h.name} is truncated`, off);
    if (!isZero(bytes.subarray(end, next))) throw new TarError(`padding after ${h.name} is not zero`, end);
    entries.push({ name: h.name, data: bytes.subarray(start, end) });
    off = next;
  }
  return { entries, mtime: rules.mtime ?? 0 };
}

export interface ScannedEntry {
  name: string;
  size: number;
  sha256: string;
  /** The bytes, for entries `keep` asked for. */
  data?: Uint8Array;
}

/**
 * Reads an archive file with bounded memory: every entry is hashed while streaming, only entries `keep` selects
 * are held in memory. Same strictness as readTar.
 */
export async function scanTarFile(
  path: string,
  keep: (name: string) => boolean,
): Promise<{ entries: ScannedEntry[]; mtime: number; bytes: number }> {
  const fd = await open(path, 'r');
  try {
    const size = (await fd.stat()).size;
    const read = async (off: number, len: number): Promise<Buffer> => {
      const buf = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fd.read(buf, got, len - got, off + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === len ? buf : buf.subarray(0, got);
    };
    const entries: ScannedEntry[] = [];
    const rules = new EntryRules();
    let off = 0;
    for (;;) {
      if (off + BLOCK > size) throw new TarError('archive ends without the two zero end blocks', off);
      const header = await read(off, BLOCK);
      if (isZero(header)) {
        checkEnd(await read(off + BLOCK, Math.min(BLOCK, size - off - BLOCK)), off, size);
        break;
      }
      const h = rules.next(header, off);
      const start = off + BLOCK;
      const next = start + padded(h.size);
      if (next > size) throw new TarError(`entry ${h.name} is truncated`, off);
      const hash = createHash('sha256');
      const kept = keep(h.name) ? Buffer.alloc(h.size) : undefined;
      for (let pos = 0; pos < h.size; ) {
        const chunk = await read(start + pos, Math.min(CHUNK, h.size - pos));
        hash.update(chunk);
        kept?.set(chunk, pos);
        pos += chunk.length;
      }
      if (!isZero(await read(start + h.size, next - start - h.size))) {
        throw new TarError(`padding after ${h.name} is not zero`, start + h.size);
      }
      entries.push({ name: h.name, size: h.size, sha256: hash.digest('hex'), ...(kept ? { data: kept } : {}) });
      off = next;
    }
    return { entries, mtime: rules.mtime ?? 0, bytes: size };
  } finally {
    await fd.close();
  }
}

const CHUNK = 1 << 20;

/** What every entry must satisfy: canonical header, safe unique name, sorted order, one mtime. */
class EntryRules {
  mtime: number | undefined;
  private last: string | undefined;

  next(header: Uint8Array, off: number): { name: string; size: number; mtime: number } {
    const h = decodeHeader(header, off);
    const reason = unsafeNameReason(h.name);
    if (reason) throw new TarError(`entry ${JSON.stringify(h.name)} refused: ${reason}`, off);
    if (this.last !== undefined && h.name === this.last) throw new TarError(`duplicate entry ${h.name}`, off);
    if (this.last !== undefined && h.name < this.last) throw new TarError(`entries are not sorted at ${h.name}`, off);
    if (this.mtime !== undefined && h.mtime !== this.mtime)
      throw new TarError(`entry ${h.name} has a different mtime`, off);
    this.mtime = h.mtime;
    this.last = h.name;
    return h;
  }
}

function checkEnd(second: Uint8Array, off: number, total: number): void {
  if (second.length < BLOCK) throw new TarError('archive ends after one zero end block', off);
  if (!isZero(second)) throw new TarError('second end block is not zero', off);
  if (off + 2 * BLOCK !== total) throw new TarError('data follows the end-of-archive blocks', off + 2 * BLOCK);
}

function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The 512-byte header writeTar emits (exported for tests of the size encodings). */
export function encodeHeader(name: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const ascii = (s: string, at: number) => {
    for (let i = 0; i < s.length; i++) h[at + i] = s.charCodeAt(i);
  };
  ascii(name, 0);
  ascii('0000644\0', 100); // mode
  ascii('0000000\0', 108); // uid
  ascii('0000000\0', 116); // gid
  if (size < OCTAL_SIZE_MAX) ascii(octal(size, 11), 124);
  else {
    // base-256: high bit set in the first byte, big-endian value in the rest of the 12-byte field
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  ascii(octal(mtime, 11), 136);
  h[156] = 0x30; // typeflag '0': regular file
  ascii('ustar\0', 257);
  ascii('00', 263);
  ascii('0000000\0', 329); // devmajor
  ascii('0000000\0', 337); // devminor
  ascii('        ', 148); // checksum is computed with its own field as spaces
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  ascii(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function octal(n: number, digits: number): string {
  return `${n.toString(8).padStart(digits, '0')}\0`;
}

export function decodeHeader(h: Uint8Array, off = 0): { name: string; size: number; mtime: number } {
  const text = (from: number, len: number) => {
    let s = '';
    for (let i = from; i < from + len && h[i] !== 0; i++) s += String.fromCharCode(h[i]!);
    return s;
  };
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const stored = Number.parseInt(text(148, 6), 8);
  if (stored !== sum) throw new TarError('header checksum mismatch (corrupted header)', off);
  if (text(257, 6) !== 'ustar' || text(263, 2) !== '00') throw new TarError('not a POSIX ustar header', off);
  const type = h[156];
  if (type !== 0x30) {
    throw new TarError(
      `entry ${JSON.stringify(text(0, 100))} is not a regular file (type ${String.fromCharCode(type ?? 0)})`,
      off,
    );
  }
  const name = text(0, 100);
  let size: number;
  if ((h[124]! & 0x80) !== 0) {
    let v = 0n;
    for (let i = 125; i < 136; i++) v = (v << 8n) | BigInt(h[i]!);
    if (h[124] !== 0x80 || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarError('entry size out of range', off);
    size = Number(v);
  } else {
    size = parseOctal(text(124, 12), 'size', off);
  }
  const mtime = parseOctal(text(136, 12), 'mtime', off);
  // Only the exact bytes writeTar produces are accepted.
  const canonical = encodeHeader(name, size, mtime);
  for (let i = 0; i < BLOCK; i++) {
    if (canonical[i] !== h[i])
      throw new TarError(`header of ${JSON.stringify(name)} is not canonical at byte ${i}`, off);
  }
  return { name, size, mtime };
}

function parseOctal(s: string, field: string, off: number): number {
  if (!/^[0-7]{1,11}$/.test(s)) throw new TarError(`${field} is not octal`, off);
  return Number.parseInt(s, 8);
}
