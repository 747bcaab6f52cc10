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
  parseManifest,
  SIGNATURE_FILE,
  serializeManifest,
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

/**
 * The operator's step: verifies the unsigned export completely (throws listing what failed), then fills the
 * manifest's signer, signs the exact manifest.json bytes and returns the archive with manifest.sig.
 */
export function signExport(tarBytes: Uint8Array, key: KeyObject): Uint8Array {
  const report = verifyArchive(tarBytes, { unsigned: true });
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    throw new Error(`the unsigned export does not verify: ${failed.join('; ')}`);
  }
  const { entries, mtime } = readTar(tarBytes);
  const manifest = parseManifest(entries.find((e) => e.name === MANIFEST_FILE)!.data);
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
