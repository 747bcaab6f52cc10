// npm run bench -- recorder-transcript [events]: the evidence path's costs on this machine's disk.
//   append:     N records (default 10 000) with realistic encrypted-message fields, 64 appenders at once, so group
//               commit batches them (one write + one fdatasync per batch); every append awaited until durable.
//   sequential: 500 appends awaited one by one (one fdatasync each): the cost group commit avoids.
//   resume:     reopening the N-line transcript (read + chain verification + index rebuild).
//   archive:    packUnsignedExport (HTML rendering included), signExport (re-verifies, then signs), verifyArchive.
// The transcript lives in a temp dir under os.tmpdir() (set TMPDIR to bench another disk).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packUnsignedExport, signExport } from '../src/evidence/archive.ts';
import { TranscriptWriter } from '../src/evidence/transcript.ts';
import { verifyArchive } from '../src/evidence/verify.ts';
import { messageRecord as record } from '../test/support/transcript-recorder.ts';

const N = Number(process.argv[2] ?? 10_000);
const CONCURRENCY = 64;
const SEQUENTIAL = 500;

const ms = (t0: number) => performance.now() - t0;
const dir = await mkdtemp(join(tmpdir(), 'wr-bench-transcript-'));
try {
  const w = await TranscriptWriter.open(dir);
  let next = 0;
  let t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await w.append(record(next++));
    }),
  );
  const appendMs = ms(t0);
  const batches = w.batches;
  const bytes = (await stat(w.path)).size;

  const seqDir = await mkdtemp(join(tmpdir(), 'wr-bench-seq-'));
  const s = await TranscriptWriter.open(seqDir);
  t0 = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) await s.append(record(i));
  const seqMs = ms(t0);
  await s.close();
  await rm(seqDir, { recursive: true, force: true });

  await w.seal('bench');
  await w.close();
  t0 = performance.now();
  const reopened = await TranscriptWriter.open(dir);
  const resumeMs = ms(t0);
  await reopened.close();

  const key = generateKeyPairSync('ed25519').privateKey;
  const channel = { name: 'bench', uid: 'uid', caseId: 'BENCH-1', namespace: 'wr-bench' };
  t0 = performance.now();
  const unsigned = await packUnsignedExport(dir, { channel });
  const packMs = ms(t0);
  t0 = performance.now();
  const signed = signExport(unsigned, key);
  const signMs = ms(t0);
  t0 = performance.now();
  const report = verifyArchive(signed, { publicKey: key });
  const verifyMs = ms(t0);
  if (!report.ok) throw new Error(`bench archive does not verify: ${JSON.stringify(report.checks)}`);

  const r = (x: number) => Math.round(x);
  console.log(`transcript append, group commit (${N} records, ${CONCURRENCY} concurrent appenders):`);
  console.log(`  ${r(N / (appendMs / 1000))} records/s, ${r(appendMs)} ms total, ${batches} write+fdatasync batches`);
  console.log(`  (${(bytes / N).toFixed(0)} bytes/line, ${(bytes / 1e6).toFixed(1)} MB)`);
  console.log(`transcript append, one at a time (${SEQUENTIAL} records, each awaited: one fdatasync each):`);
  console.log(`  ${r(SEQUENTIAL / (seqMs / 1000))} records/s, ${(seqMs / SEQUENTIAL).toFixed(2)} ms per record`);
  console.log(`resume (reopen + verify chain + rebuild index) of ${N + 1} lines: ${r(resumeMs)} ms`);
  console.log(`archive of ${N} events (${(signed.length / 1e6).toFixed(1)} MB):`);
  console.log(`  pack (unsigned export, HTML rendering) ${r(packMs)} ms`);
  console.log(`  sign (re-verify + sign)                ${r(signMs)} ms`);
  console.log(`  verify                                 ${r(verifyMs)} ms`);
  console.log(`  pack + sign + verify                   ${r(packMs + signMs + verifyMs)} ms`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
