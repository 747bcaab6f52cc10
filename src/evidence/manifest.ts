// The evidence manifest: what an archive holds (transcript hash, chain head, counts, time range, media, HTML) and
// who signed it. manifest.sig signs the exact bytes serializeManifest produces.
import { z } from 'zod';
import type { TranscriptCounts } from './transcript.ts';

/** The recorder's unsigned export and archives without a timestamp. */
export const MANIFEST_FORMAT = 'warroom-evidence/v1';
/** An archive that carries manifest.tsr, an RFC 3161 token over manifest.sig: the signed manifest says so. */
export const MANIFEST_FORMAT_V2 = 'warroom-evidence/v2';
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';
export const TIMESTAMP_FILE = 'manifest.tsr';
export const HTML_FILE = 'transcript.html';
/** Version of the HTML rendering; verify re-renders and compares when it knows the version. */
export const HTML_RENDERER = 'warroom-html/v1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a hex sha256');
const count = z.number().int().nonnegative();

const channelSchema = z.strictObject({
  name: z.string(),
  uid: z.string(),
  caseId: z.string(),
  namespace: z.string(),
});

const manifestSchema = z.strictObject({
  format: z.enum([MANIFEST_FORMAT, MANIFEST_FORMAT_V2]),
  channel: channelSchema,
  createdAt: z.iso.datetime(),
  transcript: z.strictObject({
    file: z.literal('transcript.jsonl'),
    sha256: sha256Hex,
    lines: count,
    headHash: sha256Hex,
    sealed: z.boolean(),
    events: count,
    decrypted: count,
    failed: count,
    plaintext: count,
    byType: z.record(z.string(), count),
  }),
  timeRange: z.strictObject({ first: z.iso.datetime().optional(), last: z.iso.datetime().optional() }),
  media: z.array(z.strictObject({ file: z.string(), sha256: sha256Hex, bytes: count })),
  html: z.strictObject({ file: z.literal(HTML_FILE), sha256: sha256Hex, renderer: z.string() }),
  signer: z
    .strictObject({
      alg: z.literal('ed25519'),
      publicKey: z.string(),
      keyId: sha256Hex,
    })
    .optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ChannelRef = z.infer<typeof channelSchema>;

export interface ManifestInput {
  channel: ChannelRef;
  createdAt: Date;
  transcript: { sha256: string; lines: number; headHash: string; sealed: boolean; counts: TranscriptCounts };
  media: { file: string; sha256: string; bytes: number }[];
  html: { sha256: string };
  signer?: Manifest['signer'];
}

/** Builds a manifest with a fixed key order (the serialised bytes are what gets signed). */
export function buildManifest(input: ManifestInput): Manifest {
  const c = input.transcript.counts;
  const iso = isoTime;
  // Object.fromEntries defines own properties, so an event type named '__proto__' stays an ordinary key.
  const byType: Record<string, number> = Object.fromEntries(
    Object.entries(c.byType).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    channel: {
      name: input.channel.name,
      uid: input.channel.uid,
      caseId: input.channel.caseId,
      namespace: input.channel.namespace,
    },
    createdAt: input.createdAt.toISOString(),
    transcript: {
      file: 'transcript.jsonl',
      sha256: input.transcript.sha256,
      lines: input.transcript.lines,
      headHash: input.transcript.headHash,
      sealed: input.transcript.sealed,
      events: c.events,
      decrypted: c.decrypted,
      failed: c.failed,
      plaintext: c.plaintext,
      byType,
    },
    timeRange: dropUndefined({ first: iso(c.firstTs), last: iso(c.lastTs) }),
    media: [...input.media]
      .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
      .map((m) => ({ file: m.file, sha256: m.sha256, bytes: m.bytes })),
    html: { file: HTML_FILE, sha256: input.html.sha256, renderer: HTML_RENDERER },
  };
  if (input.signer) manifest.signer = { ...input.signer };
  return manifest;
}

const YEAR_0 = -62_167_219_200_000;
const YEAR_10000 = 253_402_300_800_000;

/**
 * ISO time of an origin_server_ts, or undefined when it is not a time an ISO string can hold (years 0-9999):
 * a timestamp is data from the homeserver and must never make an export fail.
 */
export function isoTime(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < YEAR_0 || ms >= YEAR_10000) return undefined;
  return new Date(ms).toISOString();
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function serializeManifest(m: Manifest): Uint8Array {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8');
}

/** Parses and validates manifest.json; throws a clear error naming the first bad field. */
export function parseManifest(bytes: Uint8Array): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new Error(`manifest.json is not JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`manifest.json is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  // zod rebuilds records by assignment, which silently drops a '__proto__' key: take byType from the JSON itself
  // (JSON.parse defines own properties) after checking its values.
  const rawByType = (value as { transcript: { byType: Record<string, unknown> } }).transcript.byType;
  const entries = Object.entries(rawByType);
  for (const [k, v] of entries) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new Error(`manifest.json is invalid at transcript.byType.${k}: expected a count`);
    }
  }
  parsed.data.transcript.byType = Object.fromEntries(entries) as Record<string, number>;
  return parsed.data;
}
