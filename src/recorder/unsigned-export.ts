import { packUnsignedExport } from '../evidence/archive.ts';
import type { ChannelRef } from './config.ts';

/**
 * The UNSIGNED export the operator fetches after the seal: manifest (counts, time range, head hash), transcript,
 * the media it references and the HTML rendering, as one deterministic tar. The operator signs the manifest (the
 * recorder holds no signing key) and verifies everything before it deletes the namespace.
 */
export function buildUnsignedExport(transcriptDir: string, channel: ChannelRef, sealedAt: Date): Promise<Uint8Array> {
  return packUnsignedExport(transcriptDir, { channel, createdAt: sealedAt });
}
