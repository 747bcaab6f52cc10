// A closed war room's archive, checked as an auditor would: `warroom verify` with the operator's own public key
// accepts it, and its transcript holds every message the participants sent exactly once, decrypted, no event twice,
// sealed at the end. Shared by the real-node and the kind e2e (they differ only in where the archive is copied from).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readTar } from '../../src/evidence/tar.ts';
import { TRANSCRIPT_FILE, type TranscriptRecord } from '../../src/evidence/transcript.ts';

const run = promisify(execFile);
const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/warroom.mjs', import.meta.url));

export interface ArchiveToCheck {
  /** The archive file, on this machine. */
  archive: string;
  /** The operator's signing key (PEM) from its evidence volume: its public half pins verify. */
  signingKey: string;
  /** A directory of the test's own for the public key file. */
  work: string;
  /** Event id → body of every message sent in the war room. */
  sent: ReadonlyMap<string, string>;
}

export async function assertVerifiedTranscript(a: ArchiveToCheck): Promise<TranscriptRecord[]> {
  const key = createPublicKey(await readFile(a.signingKey));
  const publicKeyFile = join(a.work, 'operator.pub.pem');
  await writeFile(publicKeyFile, key.export({ type: 'spki', format: 'pem' }).toString());
  const ok = await run(NODE, [BIN, 'verify', a.archive, '--public-key', publicKeyFile]);
  assert.match(ok.stdout, /valid/i);

  const { entries } = readTar(new Uint8Array(await readFile(a.archive)));
  const transcript = entries.find((e) => e.name === TRANSCRIPT_FILE);
  assert.ok(transcript, 'the archive holds the transcript');
  const records = Buffer.from(transcript.data)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TranscriptRecord);
  const ids = records.flatMap((r) => (r.eventId ? [r.eventId] : []));
  assert.equal(new Set(ids).size, ids.length, 'no event is recorded twice');
  for (const [id, body] of a.sent) {
    const hits = records.filter((r) => r.eventId === id);
    assert.equal(hits.length, 1, `"${body}" is recorded once`);
    assert.equal(hits[0]?.decryption, 'decrypted');
    assert.equal((hits[0]?.content as { body?: string } | undefined)?.body, body);
  }
  assert.equal(records.at(-1)?.kind, 'seal', 'the transcript ends with the seal record');
  return records;
}
