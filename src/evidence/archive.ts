// Evidence archives. The recorder packs an UNSIGNED export (transcript, the media it references, the HTML
// rendering, a manifest without signer); the operator re-verifies it, fills in the signer, signs the exact manifest
// bytes and writes manifest.sig. Both are deterministic ustar archives (see tar.ts).
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderTranscriptHtml } from './html.ts';
import {
  buildManifest,
  type ChannelRef,
  HTML_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_V2,
  parseManifest,
  SIGNATURE_FILE,
  serializeManifest,
  TIMESTAMP_FILE,
} from './manifest.ts';
import { encodeSignatureFile, keyId, publicKeyBase64, publicKeyOf, signManifest } from './signing.ts';
import { readTar, type TarEntry, tarMtime, writeTar } from './tar.ts';
import { MEDIA_DIR, readTranscript, TRANSCRIPT_FILE } from './transcript.ts';
import { htmlInfo, sha256Hex, verifyArchive } from './verify.ts';

/** An export given as bytes instead of a transcript directory. `media` maps sha256 (or media/<sha256>) to bytes. */
export interface ExportParts {
  transcript: Uint8Array;
  media?: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;
}

export interface PackOptions {
  channel: ChannelRef;
  /** Becomes manifest.createdAt and every tar entry's mtime (default: now). */
  createdAt?: Date;
}

/**
 * Packs the recorder's transcript directory (transcript.jsonl + media/) or given parts into an unsigned export.
 * Refuses a broken chain (naming the first bad line) and a referenced media file that is missing or damaged.
 */
export async function packUnsignedExport(source: string | ExportParts, opts: PackOptions): Promise<Uint8Array> {
  const createdAt = new Date(Math.floor((opts.createdAt ?? new Date()).getTime() / 1000) * 1000);
  const transcript = typeof source === 'string' ? await readFile(join(source, TRANSCRIPT_FILE)) : source.transcript;
  const scan = readTranscript(transcript);
  if (scan.broken) {
    throw new Error(`cannot export: the transcript chain is broken at line ${scan.broken.line}: ${scan.broken.reason}`);
  }
  const lookup = typeof source === 'string' ? undefined : mediaLookup(source.media);
  const media = new Map<string, Uint8Array>();
  for (const r of scan.records) {
    for (const m of r.media ?? []) {
      if (media.has(m.file)) continue;
      const data =
        typeof source === 'string'
          ? await readFile(join(source, MEDIA_DIR, m.sha256)).catch(() => undefined)
          : lookup?.(m.sha256);
      if (!data) throw new Error(`cannot export: ${m.file} (line ${r.seq}) is missing`);
      if (sha256Hex(data) !== m.sha256 || data.length !== m.bytes) {
        throw new Error(`cannot export: ${m.file} (line ${r.seq}) does not match its sha256 or size`);
      }
      media.set(m.file, data);
    }
  }
  const base = {
    channel: opts.channel,
    createdAt,
    transcript: {
      sha256: sha256Hex(transcript),
      lines: scan.checker.count,
      headHash: scan.checker.head,
      sealed: scan.checker.sealed,
      counts: scan.checker.counts,
    },
    media: [...media].map(([file, data]) => ({ file, sha256: file.slice(MEDIA_DIR.length + 1), bytes: data.length })),
  };
  const draft = buildManifest({ ...base, html: { sha256: '0'.repeat(64) } });
  const html = Buffer.from(renderTranscriptHtml(scan.records, htmlInfo(draft)), 'utf8');
  const manifest = buildManifest({ ...base, html: { sha256: sha256Hex(html) } });
  const entries: TarEntry[] = [
    { name: MANIFEST_FILE, data: serializeManifest(manifest) },
    { name: TRANSCRIPT_FILE, data: transcript },
    { name: HTML_FILE, data: html },
    ...[...media].map(([name, data]) => ({ name, data })),
  ];
  return writeTar(entries, tarMtime(createdAt));
}

function mediaLookup(media: ExportParts['media']): (sha256: string) => Uint8Array | undefined {
  if (!media) return () => undefined;
  const get =
    media instanceof Map
      ? (k: string) => media.get(k)
      : (k: string) => (Object.hasOwn(media, k) ? (media as Record<string, Uint8Array>)[k] : undefined);
  return (sha) => get(sha) ?? get(`${MEDIA_DIR}/${sha}`);
}

export interface SignOptions {
  /**
   * Declares in the signed manifest that a timestamp (manifest.tsr) follows (format v2): stripping the token from
   * such an archive then fails verification. The token itself is added by withTimestamp.
   */
  timestamped?: boolean;
}

/**
 * The operator's step: verifies the unsigned export completely (throws listing what failed), then fills the
 * manifest's signer, signs the exact manifest.json bytes and returns the archive with manifest.sig.
 */
export function signExport(tarBytes: Uint8Array, key: KeyObject, opts: SignOptions = {}): Uint8Array {
  const report = verifyArchive(tarBytes, { unsigned: true });
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    throw new Error(`the unsigned export does not verify: ${failed.join('; ')}`);
  }
  const { entries, mtime } = readTar(tarBytes);
  const manifest = parseManifest(entries.find((e) => e.name === MANIFEST_FILE)!.data);
  manifest.format = opts.timestamped ? MANIFEST_FORMAT_V2 : MANIFEST_FORMAT;
  manifest.signer = { alg: 'ed25519', publicKey: publicKeyBase64(key), keyId: keyId(publicKeyOf(key)) };
  const manifestBytes = serializeManifest(manifest);
  const signature = signManifest(manifestBytes, key);
  const signed: TarEntry[] = [
    ...entries.filter((e) => e.name !== MANIFEST_FILE),
    { name: MANIFEST_FILE, data: manifestBytes },
    { name: SIGNATURE_FILE, data: encodeSignatureFile(signature) },
  ];
  return writeTar(signed, mtime);
}

/** The exact manifest.sig bytes of a signed archive: what an RFC 3161 token is requested over. */
export function signatureFileOf(signedTar: Uint8Array): Uint8Array {
  const sig = readTar(signedTar).entries.find((e) => e.name === SIGNATURE_FILE);
  if (!sig) throw new Error(`the archive has no ${SIGNATURE_FILE}`);
  return sig.data;
}

/** Adds manifest.tsr (the DER token over manifest.sig) to a signed v2 archive, keeping every other byte's meaning. */
export function withTimestamp(signedTar: Uint8Array, token: Uint8Array): Uint8Array {
  const { entries, mtime } = readTar(signedTar);
  const manifest = parseManifest(entries.find((e) => e.name === MANIFEST_FILE)?.data ?? new Uint8Array());
  if (manifest.format !== MANIFEST_FORMAT_V2) throw new Error(`a ${manifest.format} archive carries no timestamp`);
  if (entries.some((e) => e.name === TIMESTAMP_FILE)) throw new Error(`the archive already has ${TIMESTAMP_FILE}`);
  return writeTar([...entries, { name: TIMESTAMP_FILE, data: token }], mtime);
}

/**
 * Whether two signed archives carry the same signed manifest (manifest.json and manifest.sig byte for byte): the
 * same evidence, perhaps with different timestamps. The manifest pins every other entry by its hash.
 */
export function sameSignedArchive(a: Uint8Array, b: Uint8Array): boolean {
  try {
    const pick = (bytes: Uint8Array) => {
      const entries = readTar(bytes).entries;
      const get = (n: string) => entries.find((e) => e.name === n)?.data;
      return [get(MANIFEST_FILE), get(SIGNATURE_FILE)];
    };
    const [ma, sa] = pick(a);
    const [mb, sb] = pick(b);
    return !!ma && !!sa && !!mb && !!sb && Buffer.from(ma).equals(mb) && Buffer.from(sa).equals(sb);
  } catch {
    return false;
  }
}
