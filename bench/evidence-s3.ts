// npm run bench -- evidence-s3: close → archive sealed, signed, timestamped (RFC 3161), stored with COMPLIANCE
// retention and verified from the bucket → the point where the reconciler makes its namespace delete call, for a
// transcript of 10 and of 10 000 events. Real peers on loopback: the recorder's HTTP API over a real transcript,
// sigstore's timestamp-server, versitygw (Object Lock). One run per size; prints the TSA's and the store's share.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toChannel } from '../src/controllers/incidentchannel/channel.ts';
import { HttpRecorderClient } from '../src/controllers/incidentchannel/recorder-client.ts';
import { RecorderEvidence } from '../src/controllers/incidentchannel/recorder-evidence.ts';
import { S3EvidenceStore } from '../src/evidence/s3-store.ts';
import { parseCertificates } from '../src/evidence/timestamp.ts';
import { makeTsaChain, startTimestampServer } from '../test/support/timestamp-authority.ts';
import { startTranscriptRecorder } from '../test/support/transcript-recorder.ts';
import { startVersitygw } from '../test/support/versitygw.ts';

const SIZES = [10, 10_000];
const dir = await mkdtemp(join(tmpdir(), 'wr-bench-evidence-s3-'));
const s3 = await startVersitygw(join(dir, 's3'));
const tsa = await startTimestampServer(await makeTsaChain(join(dir, 'tsa'), 'bench'));
try {
  await s3.createLockBucket('evidence');
  const store = new S3EvidenceStore({
    bucket: 'evidence',
    prefix: 'warroom/',
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: s3.credentials,
    retentionMs: 2557 * 86_400_000,
  });
  const signingKey = generateKeyPairSync('ed25519').privateKey;
  const roots = parseCertificates(await readFile(tsa.chain.rootPem));
  const r = (x: unknown) => (typeof x === 'number' ? Math.round(x) : '?');
  for (const events of SIZES) {
    const uid = randomUUID();
    const name = `bench-${events}`;
    const recorder = await startTranscriptRecorder(
      join(dir, name),
      { name, uid, caseId: name.toUpperCase(), namespace: `wr-${name}` },
      events,
    );
    let figures: Record<string, unknown> = {};
    const hook = new RecorderEvidence({
      recorder: new HttpRecorderClient({ urls: { status: recorder.url, control: recorder.url } }),
      store,
      signingKey,
      publicKey: signingKey,
      now: () => new Date(),
      tsa: { url: tsa.url, roots, required: true },
      log: {
        info: (o) => {
          figures = { ...o };
        },
        warn: () => {},
      },
    });
    const t0 = performance.now();
    const outcome = await hook.export(
      toChannel({
        apiVersion: 'warroom.dev/v1alpha1',
        kind: 'IncidentChannel',
        metadata: { name, uid },
        spec: { caseId: name },
      }),
      `wr-${name}`,
    );
    const total = performance.now() - t0;
    await recorder.stop();
    if (outcome.kind !== 'archived') throw new Error(`${events} events: ${JSON.stringify(outcome)}`);
    const bytes = (await store.get(outcome.archive.location)).length;
    const tsaMs = Number(figures.timestampMs);
    const storeMs = Number(figures.storeMs);
    const pct = (x: number) => `${((100 * x) / total).toFixed(1)}%`;
    console.log(`${events} events (${(bytes / 1e6).toFixed(2)} MB archive), close → delete call: ${r(total)} ms`);
    console.log(`  TSA (request + token check + add manifest.tsr): ${r(tsaMs)} ms (${pct(tsaMs)})`);
    console.log(`  store (PutObject COMPLIANCE + retention read-back + GET): ${r(storeMs)} ms (${pct(storeMs)})`);
    console.log(`  rest (seal over HTTP, sign, verify the stored copy): ${r(total - tsaMs - storeMs)} ms`);
    console.log(`  ${outcome.archive.location} retained until ${outcome.archive.retainUntil}`);
  }
  store.destroy();
} finally {
  await tsa.stop();
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
}
