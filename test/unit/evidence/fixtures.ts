// Builds small real transcripts and archives for the evidence tests.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packUnsignedExport, signExport } from '../../../src/evidence/archive.ts';
import type { ChannelRef } from '../../../src/evidence/manifest.ts';
import { TranscriptWriter } from '../../../src/evidence/transcript.ts';

export const channel: ChannelRef = {
  name: 'ir-2026-0042',
  uid: '0b7c1f9e-1111-2222-3333-444455556666',
  caseId: 'IR-2026-0042',
  namespace: 'wr-ir-2026-0042-abc12',
};

export const createdAt = new Date('2026-11-23T12:30:00.000Z');

export function newKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

const dirs: string[] = [];
export async function tempDir(prefix = 'wr-evidence-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export async function cleanup(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** A transcript with messages, an edit, a redaction, a reaction, a failed decryption, a member event and a picture. */
export async function writeSampleTranscript(dir: string, extraEvents = 0): Promise<void> {
  const w = await TranscriptWriter.open(dir, { clock: () => new Date('2026-11-23T12:00:00.000Z') });
  const room = '!ops:wr.invalid';
  const base = { roomId: room, sender: '@alice:wr.invalid', deviceId: 'ALICEDEV', decryption: 'decrypted' as const };
  await w.append({
    kind: 'event',
    eventId: '$m0',
    roomId: room,
    sender: '@bob:wr.invalid',
    type: 'm.room.member',
    stateKey: '@bob:wr.invalid',
    content: { membership: 'join', displayname: '<b>Bob</b>' },
    decryption: 'plaintext',
    ts: 1_763_900_000_000,
  });
  await w.append({
    ...base,
    kind: 'event',
    eventId: '$m1',
    type: 'm.room.message',
    ts: 1_763_900_001_000,
    content: { msgtype: 'm.text', body: '<script>alert("pwned")</script>\nsecond line 🔥' },
    senderKey: 'curve25519key',
    sessionId: 'megolmsession',
    ciphertext: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AwgAEn...' },
  });
  await w.append({
    ...base,
    kind: 'event',
    eventId: '$m2',
    type: 'm.room.message',
    ts: 1_763_900_002_000,
    content: { msgtype: 'm.text', body: '* fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed text' } },
    relatesTo: { rel_type: 'm.replace', event_id: '$m1' },
  });
  const picture = await w.writeMedia(new TextEncoder().encode('\x89PNG fake picture bytes'));
  await w.append({
    ...base,
    kind: 'event',
    eventId: '$m3',
    type: 'm.room.message',
    ts: 1_763_900_003_000,
    content: { msgtype: 'm.image', body: 'screenshot.png' },
    media: [{ mxcUri: 'mxc://wr.invalid/abc', mimetype: 'image/png', ...picture }],
  });
  await w.append({
    ...base,
    kind: 'event',
    eventId: '$m4',
    type: 'm.reaction',
    ts: 1_763_900_004_000,
    content: {},
    relatesTo: { rel_type: 'm.annotation', event_id: '$m3', key: '👍' },
  });
  await w.append({
    ...base,
    kind: 'event',
    eventId: '$m5',
    type: 'm.room.redaction',
    ts: 1_763_900_005_000,
    content: { redacts: '$m3', reason: 'wrong <file>' },
  });
  await w.append({
    kind: 'event',
    eventId: '$m6',
    roomId: room,
    sender: '@mallory:wr.invalid',
    type: 'm.room.encrypted',
    ts: 1_763_900_006_000,
    ciphertext: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'xyz', session_id: 'unknown' },
    decryption: 'failed',
    decryptionError: 'MEGOLM_UNKNOWN_INBOUND_SESSION_ID',
    sessionId: 'unknown',
  });
  const pending = [];
  for (let i = 0; i < extraEvents; i++) {
    pending.push(
      w.append({
        ...base,
        kind: 'event',
        eventId: `$x${i}`,
        type: 'm.room.message',
        ts: 1_763_900_010_000 + i,
        content: { msgtype: 'm.text', body: `bulk message ${i}` },
      }),
    );
  }
  await Promise.all(pending);
  await w.seal('case closed');
  await w.close();
}

export async function sampleArchive(
  key: KeyObject,
  extraEvents = 0,
): Promise<{ unsigned: Uint8Array; signed: Uint8Array; dir: string }> {
  const dir = await tempDir();
  await writeSampleTranscript(dir, extraEvents);
  const unsigned = await packUnsignedExport(dir, { channel, createdAt });
  return { unsigned, signed: signExport(unsigned, key), dir };
}
