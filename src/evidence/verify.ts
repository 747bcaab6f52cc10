// Verifies an evidence archive end to end: the tar is canonical, the manifest parses and is signed, the transcript's
// hash and chain match the manifest, every media file is what its name, the manifest and the transcript say, and
// the HTML is exactly the rendering of the transcript. Any changed byte fails at least one check.
import { createHash, type KeyObject } from 'node:crypto';
import { renderTranscriptHtml } from './html.ts';
import {
  HTML_FILE,
  HTML_RENDERER,
  isoTime,
  MANIFEST_FILE,
  MANIFEST_FORMAT_V2,
  type Manifest,
  parseManifest,
  SIGNATURE_FILE,
  TIMESTAMP_FILE,
} from './manifest.ts';
import { decodeSignatureFile, keyId, parsePublicKey, verifyManifestSignature } from './signing.ts';
import { readTar, type ScannedEntry, scanTarFile, TarError, tarMtime } from './tar.ts';
import { verifyTimestampToken } from './timestamp.ts';
import { MEDIA_DIR, readTranscript, TRANSCRIPT_FILE } from './transcript.ts';

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  checks: VerifyCheck[];
  firstBrokenLink?: { line: number; reason: string };
  manifest?: Manifest;
  /** Valid but worth saying, e.g. "signer key not pinned". */
  warnings: string[];
  /** manifest.tsr and the manifest.sig bytes it covers, for checkTimestamp (verifyArchive does not check tokens). */
  timestamp?: { token: Uint8Array; signature: Uint8Array };
}

export interface VerifyOptions {
  /** The operator's public key (PEM or base64 SPKI DER). Without it the key embedded in the manifest is used. */
  publicKey?: KeyObject | string;
  /** Check an export the operator has not signed yet: it must carry no signature and no signer. */
  unsigned?: boolean;
}

export interface TimestampOptions {
  /** DER certificates of the trusted TSA roots; without them a token is checked but its TSA is not pinned. */
  tsaRoots?: readonly Uint8Array[];
  /** Fail an archive without a valid, pinned timestamp (needs tsaRoots). */
  requireTimestamp?: boolean;
}

const TIMESTAMP_NOT_CHECKED = 'manifest.tsr was not checked';

const MEDIA_NAME = /^media\/([0-9a-f]{64})$/;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function verifyArchive(bytes: Uint8Array, opts: VerifyOptions = {}): VerifyReport {
  let tar: { entries: ScannedEntry[]; mtime: number; bytes: number } | Error;
  try {
    const t = readTar(bytes);
    tar = {
      entries: t.entries.map((e) => ({ name: e.name, size: e.data.length, sha256: sha256Hex(e.data), data: e.data })),
      mtime: t.mtime,
      bytes: bytes.length,
    };
  } catch (err) {
    tar = err as Error;
  }
  return verifyEntries(tar, opts);
}

/**
 * verifyArchive for an archive file, with memory bounded by the manifest, transcript and HTML: media entries are
 * hashed while streaming, never held (archives with large attachments may exceed what a Buffer can hold).
 */
export async function verifyArchiveFile(
  path: string,
  opts: VerifyOptions & TimestampOptions = {},
): Promise<VerifyReport> {
  let tar: Awaited<ReturnType<typeof scanTarFile>> | Error;
  try {
    tar = await scanTarFile(
      path,
      (name) =>
        name === MANIFEST_FILE || name === SIGNATURE_FILE || name === TRANSCRIPT_FILE || name === TIMESTAMP_FILE,
    );
  } catch (err) {
    if (!(err instanceof TarError)) throw err; // unreadable file: not a verdict about the archive
    tar = err;
  }
  return checkTimestamp(verifyEntries(tar, opts), opts);
}

/** verifyArchive and then the timestamp (checkTimestamp). */
export async function verifyEvidence(
  bytes: Uint8Array,
  opts: VerifyOptions & TimestampOptions = {},
): Promise<VerifyReport> {
  return checkTimestamp(verifyArchive(bytes, opts), opts);
}

/**
 * Adds the `timestamp` check to a report from verifyArchive (which only checks that a v2 archive carries
 * manifest.tsr): the RFC 3161 token is over the exact manifest.sig bytes, signed by a timestamping certificate
 * and, with tsaRoots, chained to a trusted root at the token's time.
 */
export async function checkTimestamp(report: VerifyReport, opts: TimestampOptions = {}): Promise<VerifyReport> {
  report.warnings = report.warnings.filter((w) => w !== TIMESTAMP_NOT_CHECKED);
  const add = (ok: boolean, detail: string) => {
    report.checks.push({ name: 'timestamp', ok, detail });
    report.ok = report.ok && ok;
  };
  const pinned = (opts.tsaRoots?.length ?? 0) > 0;
  if (!report.timestamp) {
    if (opts.requireTimestamp) add(false, `no ${TIMESTAMP_FILE}: the archive is not timestamped, and one is required`);
    return report;
  }
  const result = await verifyTimestampToken(report.timestamp.token, report.timestamp.signature, opts.tsaRoots);
  if (result.ok && !pinned) {
    if (opts.requireTimestamp) {
      add(false, `${result.detail}; a required timestamp needs a pinned TSA root`);
      return report;
    }
    report.warnings.push('TSA not pinned');
  }
  add(result.ok, result.detail);
  return report;
}

function verifyEntries(
  tar: { entries: ScannedEntry[]; mtime: number; bytes: number } | Error,
  opts: VerifyOptions,
): VerifyReport {
  try {
    return checkEntries(tar, opts);
  } catch (err) {
    // A verifier answers "invalid", it does not crash its caller (the operator's teardown, the CLI).
    return {
      ok: false,
      checks: [{ name: 'verifier', ok: false, detail: `unexpected error: ${(err as Error).message}` }],
      warnings: [],
    };
  }
}

function checkEntries(
  tar: { entries: ScannedEntry[]; mtime: number; bytes: number } | Error,
  opts: VerifyOptions,
): VerifyReport {
  const report: VerifyReport = { ok: false, checks: [], warnings: [] };
  const check = (name: string, ok: boolean, detail: string) => {
    report.checks.push({ name, ok, detail });
    return ok;
  };
  const finish = () => {
    report.ok = report.checks.length > 0 && report.checks.every((c) => c.ok);
    return report;
  };

  // 1. The tar itself.
  if (tar instanceof Error) {
    check('tar', false, tar.message);
    return finish();
  }
  const entries = new Map(tar.entries.map((e) => [e.name, e]));
  const files = new Map(tar.entries.flatMap((e) => (e.data ? [[e.name, e.data] as const] : [])));
  check('tar', true, `well-formed canonical ustar, ${tar.entries.length} entries, ${tar.bytes} bytes`);

  const required = [MANIFEST_FILE, TRANSCRIPT_FILE, HTML_FILE, ...(opts.unsigned ? [] : [SIGNATURE_FILE])];
  const missing = required.filter((n) => !entries.has(n));
  const unexpected = [...entries.keys()].filter(
    (n) =>
      !MEDIA_NAME.test(n) &&
      n !== MANIFEST_FILE &&
      n !== TRANSCRIPT_FILE &&
      n !== HTML_FILE &&
      n !== SIGNATURE_FILE &&
      (opts.unsigned || n !== TIMESTAMP_FILE),
  );
  check(
    'entries',
    missing.length === 0 && unexpected.length === 0,
    missing.length || unexpected.length
      ? [
          missing.length ? `missing ${missing.join(', ')}` : '',
          unexpected.length ? `unexpected ${unexpected.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ')
      : `${required.join(', ')} and ${[...entries.keys()].filter((n) => MEDIA_NAME.test(n)).length} media files`,
  );

  // 2. The manifest.
  const manifestBytes = files.get(MANIFEST_FILE);
  let manifest: Manifest | undefined;
  if (manifestBytes) {
    try {
      manifest = parseManifest(manifestBytes);
      report.manifest = manifest;
      check('manifest', true, `${manifest.format}, case ${manifest.channel.caseId}, created ${manifest.createdAt}`);
    } catch (err) {
      check('manifest', false, (err as Error).message);
    }
  } else {
    check('manifest', false, `${MANIFEST_FILE} is missing`);
  }
  if (manifest) {
    const expected = tarMtime(new Date(manifest.createdAt));
    check(
      'tar mtime',
      tar.mtime === expected,
      tar.mtime === expected ? 'every entry has the manifest createdAt' : `${tar.mtime} ≠ createdAt ${expected}`,
    );
  }

  // 3. The signature, and the timestamp a v2 manifest promises (its token is checked by checkTimestamp).
  if (manifestBytes && manifest)
    checkSignature(manifestBytes, manifest, files.get(SIGNATURE_FILE), opts, report, check);
  if (manifest && !opts.unsigned) {
    const token = files.get(TIMESTAMP_FILE);
    const signature = files.get(SIGNATURE_FILE);
    const v2 = manifest.format === MANIFEST_FORMAT_V2;
    if (v2 && !token)
      check('timestamp entry', false, `the ${manifest.format} manifest promises ${TIMESTAMP_FILE}, which is missing`);
    else if (!v2 && token)
      check('timestamp entry', false, `a ${manifest.format} archive must not carry ${TIMESTAMP_FILE}`);
    else if (token && signature) {
      report.timestamp = { token, signature };
      report.warnings.push(TIMESTAMP_NOT_CHECKED);
    }
  }

  // 4. The transcript: hash and chain.
  const transcript = files.get(TRANSCRIPT_FILE);
  const scan = transcript ? readTranscript(transcript) : undefined;
  if (transcript && manifest) {
    const sha = entries.get(TRANSCRIPT_FILE)!.sha256;
    check(
      'transcript sha256',
      sha === manifest.transcript.sha256,
      sha === manifest.transcript.sha256 ? sha : `${sha} ≠ manifest ${manifest.transcript.sha256}`,
    );
  }
  if (scan) {
    if (scan.broken) {
      report.firstBrokenLink = scan.broken;
      check('chain', false, `broken at line ${scan.broken.line}: ${scan.broken.reason}`);
    } else {
      check('chain', true, `${scan.checker.count} lines, head ${scan.checker.head}`);
    }
  }

  // 5. Counts, head hash, time range.
  if (scan && manifest) {
    if (scan.broken) check('counts', false, 'not checked: the chain is broken');
    else {
      const c = scan.checker.counts;
      const t = manifest.transcript;
      const mismatches: string[] = [];
      const same = (what: string, actual: unknown, claimed: unknown) => {
        if (JSON.stringify(actual) !== JSON.stringify(claimed)) {
          mismatches.push(`${what}: transcript ${JSON.stringify(actual)}, manifest ${JSON.stringify(claimed)}`);
        }
      };
      same('lines', scan.checker.count, t.lines);
      same('headHash', scan.checker.head, t.headHash);
      same('sealed', scan.checker.sealed, t.sealed);
      same('events', c.events, t.events);
      same('decrypted', c.decrypted, t.decrypted);
      same('failed', c.failed, t.failed);
      same('plaintext', c.plaintext, t.plaintext);
      same('byType', sortKeys(c.byType), sortKeys(t.byType));
      const iso = isoTime;
      same('timeRange.first', iso(c.firstTs), manifest.timeRange.first);
      same('timeRange.last', iso(c.lastTs), manifest.timeRange.last);
      check(
        'counts',
        mismatches.length === 0,
        mismatches.length
          ? mismatches.join('; ')
          : `${c.events} events (${c.decrypted} decrypted, ${c.failed} failed, ${c.plaintext} plaintext), ${scan.checker.sealed ? 'sealed' : 'not sealed'}`,
      );
    }
  }

  // 6. Media: file name = content hash = manifest entry = the records that reference it.
  if (manifest) {
    const problems: string[] = [];
    const inTar = new Map<string, ScannedEntry>();
    for (const [name, entry] of entries) {
      const m = MEDIA_NAME.exec(name);
      if (!m) continue;
      inTar.set(name, entry);
      if (entry.sha256 !== m[1]) problems.push(`${name} has sha256 ${entry.sha256}`);
    }
    const listed = new Map(manifest.media.map((m) => [m.file, m]));
    if (listed.size !== manifest.media.length) problems.push('the manifest lists a media file twice');
    for (const [file, m] of listed) {
      const entry = inTar.get(file);
      if (!entry) problems.push(`${file} is in the manifest but not in the archive`);
      else if (file !== `${MEDIA_DIR}/${m.sha256}` || entry.size !== m.bytes) {
        problems.push(`${file}: manifest says sha256 ${m.sha256}, ${m.bytes} bytes; archive has ${entry.size} bytes`);
      }
    }
    for (const file of inTar.keys()) if (!listed.has(file)) problems.push(`${file} is not in the manifest`);
    const referenced = new Set<string>();
    for (const r of scan?.records ?? []) {
      for (const m of r.media ?? []) {
        referenced.add(m.file);
        const entry = inTar.get(m.file);
        if (!entry) problems.push(`line ${r.seq} references ${m.file}, which the archive lacks`);
        else if (entry.size !== m.bytes) {
          problems.push(`line ${r.seq} says ${m.file} has ${m.bytes} bytes, not ${entry.size}`);
        }
      }
    }
    if (scan && !scan.broken) {
      for (const file of listed.keys()) if (!referenced.has(file)) problems.push(`${file} is referenced by no record`);
    }
    check(
      'media',
      problems.length === 0,
      problems.length ? problems.slice(0, 5).join('; ') : `${inTar.size} files match`,
    );
  }

  // 7. The HTML: its hash, and that it is exactly the rendering of this transcript.
  const html = entries.get(HTML_FILE);
  if (html && manifest) {
    const sha = html.sha256;
    if (sha !== manifest.html.sha256) check('html', false, `sha256 ${sha} ≠ manifest ${manifest.html.sha256}`);
    else if (manifest.html.renderer !== HTML_RENDERER) {
      check('html', true, `sha256 matches (rendered by ${manifest.html.renderer}, not re-rendered)`);
    } else if (!scan || scan.broken) check('html', false, 'not re-rendered: the chain is broken');
    else {
      const again = renderTranscriptHtml(scan.records, htmlInfo(manifest));
      const same = sha256Hex(again) === sha;
      check(
        'html',
        same,
        same
          ? 'sha256 matches and it is the rendering of transcript.jsonl'
          : 'does not match a fresh rendering of transcript.jsonl',
      );
    }
  }
  return finish();
}

export function htmlInfo(m: Manifest) {
  return {
    channel: m.channel,
    createdAt: m.createdAt,
    headHash: m.transcript.headHash,
    lines: m.transcript.lines,
    sealed: m.transcript.sealed,
  };
}

function checkSignature(
  manifestBytes: Uint8Array,
  manifest: Manifest,
  sigFile: Uint8Array | undefined,
  opts: VerifyOptions,
  report: VerifyReport,
  check: (name: string, ok: boolean, detail: string) => boolean,
): void {
  if (opts.unsigned) {
    const clean = !sigFile && !manifest.signer;
    check('signature', clean, clean ? 'unsigned export (the operator signs it)' : 'the export is already signed');
    return;
  }
  if (!sigFile) return void check('signature', false, `${SIGNATURE_FILE} is missing: the archive is not signed`);
  if (!manifest.signer) return void check('signature', false, 'the manifest names no signer');
  const sig = decodeSignatureFile(sigFile);
  if (!sig) return void check('signature', false, `${SIGNATURE_FILE} is not one canonical base64 ed25519 signature`);
  let embedded: KeyObject;
  try {
    embedded = parsePublicKey(manifest.signer.publicKey);
  } catch (err) {
    return void check('signature', false, `signer public key: ${(err as Error).message}`);
  }
  if (keyId(embedded) !== manifest.signer.keyId) {
    return void check('signature', false, 'signer keyId is not the fingerprint of the signer public key');
  }
  if (opts.publicKey !== undefined) {
    let pinned: KeyObject;
    try {
      pinned = parsePublicKey(opts.publicKey);
    } catch (err) {
      return void check('signature', false, `pinned public key: ${(err as Error).message}`);
    }
    const pinnedId = keyId(pinned);
    if (pinnedId !== manifest.signer.keyId) {
      return void check('signature', false, `signed by key ${manifest.signer.keyId}, not the pinned key ${pinnedId}`);
    }
    const ok = verifyManifestSignature(manifestBytes, sig, pinned);
    check('signature', ok, ok ? `valid ed25519 signature by the pinned key ${pinnedId}` : 'INVALID signature');
    return;
  }
  const ok = verifyManifestSignature(manifestBytes, sig, embedded);
  if (ok) report.warnings.push('signer key not pinned');
  check(
    'signature',
    ok,
    ok
      ? `valid against the key embedded in the manifest (${manifest.signer.keyId}); signer key not pinned — pass the operator's public key to pin it`
      : 'INVALID signature',
  );
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
