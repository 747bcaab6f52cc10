// The recorder's real HTTP control API (createControlServer) and its real export (buildUnsignedExport) over a
// transcript written by the real TranscriptWriter, without a homeserver: for tests and benchmarks of what the
// operator does with an export (sign, timestamp, store, verify) where Synapse would only add minutes.
import type { Server } from 'node:http';
import type { ChannelRef } from '../../src/evidence/manifest.ts';
import { type NewRecord, TranscriptWriter } from '../../src/evidence/transcript.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createControlServer, listen } from '../../src/recorder/control-server.ts';
import { createRecorderMetrics } from '../../src/recorder/metrics.ts';
import { buildUnsignedExport } from '../../src/recorder/unsigned-export.ts';

export interface TranscriptRecorder {
  /** For HttpRecorderClient / --recorder-control-url. */
  url: string;
  seals(): number;
  stop(): Promise<void>;
}

/** A message event like the recorder writes for an encrypted room. */
export function messageRecord(i: number): NewRecord {
  return {
    kind: 'event',
    eventId: `$${i.toString(36)}-${'x'.repeat(38)}`,
    roomId: '!ops-abcdefghijkl:wr.invalid',
    sender: `@participant-${i % 7}:wr.invalid`,
    deviceId: 'ABCDEFGHIJ',
    senderKey: 'k'.repeat(43),
    sessionId: 's'.repeat(43),
    ts: 1_763_900_000_000 + i * 250,
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: `incident update ${i}: ${'lorem ipsum '.repeat(8)}` },
    ciphertext: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'c'.repeat(400), device_id: 'ABCDEFGHIJ' },
    decryption: 'decrypted',
  };
}

/** Writes `events` records into `dir` and serves the recorder's control API for them on 127.0.0.1 (`port`, or any). */
export async function startTranscriptRecorder(
  dir: string,
  channel: ChannelRef,
  events: number,
  port = 0,
): Promise<TranscriptRecorder> {
  const writer = await TranscriptWriter.open(dir);
  for (let i = 0; i < events; i += 256) {
    await Promise.all(Array.from({ length: Math.min(256, events - i) }, (_, j) => writer.append(messageRecord(i + j))));
  }
  let archive: Uint8Array | undefined;
  let seals = 0;
  const server: Server = createControlServer({
    control: true,
    metrics: createRecorderMetrics(),
    log: silentLogger(),
    target: {
      ready: () => true,
      status: () => ({
        ready: true,
        sealed: archive !== undefined,
        lines: events,
        events,
        decrypted: events,
        failed: 0,
        headHash: '',
        userId: '@recorder:wr.invalid',
        rooms: [],
      }),
      // Like the recorder: the seal record is written once, so every export of a sealed transcript is the same.
      async seal() {
        seals++;
        const seal = await writer.seal('war room closed');
        archive = await buildUnsignedExport(dir, channel, new Date(seal.recordedAt));
        return { archive, recordedLate: 0 };
      },
      archive: () => archive,
      notice: async () => '$notice',
    },
  });
  const url = await listen(server, { host: '127.0.0.1', port });
  return {
    url,
    seals: () => seals,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await writer.close();
    },
  };
}
