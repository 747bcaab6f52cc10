// The write-once evidence path on real peers: the operator's evidence hook seals a channel through the recorder's
// real HTTP API, signs the export, gets an RFC 3161 token from sigstore's timestamp-server over manifest.sig, stores
// the archive in versitygw with explicit COMPLIANCE retention, and verifies the stored version. The server then
// refuses to delete it or shorten its retention; the token verifies with `warroom verify` and `openssl ts -verify`;
// a changed byte or a token from another TSA fails. Everything runs on loopback (no metadata service, no NTP).
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import { main } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/config.ts';
import { type Channel, toChannel } from '../../src/controllers/incidentchannel/channel.ts';
import type { EvidenceOutcome } from '../../src/controllers/incidentchannel/evidence-hook.ts';
import { HttpRecorderClient } from '../../src/controllers/incidentchannel/recorder-client.ts';
import { ANNOTATION_LEGAL_HOLD, RecorderEvidence } from '../../src/controllers/incidentchannel/recorder-evidence.ts';
import { evidenceFromConfig } from '../../src/evidence/from-config.ts';
import { EvidenceConflictError, S3EvidenceStore } from '../../src/evidence/s3-store.ts';
import { readTar, writeTar } from '../../src/evidence/tar.ts';
import {
  parseCertificates,
  requestTimestamp,
  type TimestampAuthority,
  verifyTimestampToken,
} from '../../src/evidence/timestamp.ts';
import { freeTcpPort } from '../support/matrix-ports.ts';
import {
  makeTsaChain,
  opensslTimestamp,
  opensslVerify,
  startTimestampServer,
  type TimestampServer,
  type TsaChain,
} from '../support/timestamp-authority.ts';
import { startTranscriptRecorder, type TranscriptRecorder } from '../support/transcript-recorder.ts';
import { type S3Peer, startVersitygw } from '../support/versitygw.ts';

const SEVEN_YEARS_MS = Math.ceil(7 * 365.25) * 86_400_000;
const BUCKET = 'evidence';

let dir: string;
let s3: S3Peer;
let tsa: TimestampServer;
let foreign: TsaChain;
let store: S3EvidenceStore;
let publicKeyPem: string;
const signingKey = generateKeyPairSync('ed25519').privateKey;
const recorders: TranscriptRecorder[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warroom-evidence-s3-'));
  s3 = await startVersitygw(join(dir, 's3'));
  await s3.createLockBucket(BUCKET);
  tsa = await startTimestampServer(await makeTsaChain(join(dir, 'tsa-alpha'), 'alpha'));
  foreign = await makeTsaChain(join(dir, 'tsa-beta'), 'beta');
  store = newStore();
  publicKeyPem = join(dir, 'operator.pub');
  await writeFile(publicKeyPem, signingKey.export({ type: 'pkcs8', format: 'pem' }));
});

after(async () => {
  for (const r of recorders) await r.stop();
  store?.destroy();
  await tsa?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function newStore(bucket = BUCKET): S3EvidenceStore {
  return new S3EvidenceStore({
    bucket,
    prefix: 'warroom/',
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: s3.credentials,
    retentionMs: SEVEN_YEARS_MS,
  });
}

async function tsaAuthority(overrides: Partial<TimestampAuthority> = {}): Promise<TimestampAuthority> {
  return {
    url: tsa.url,
    roots: parseCertificates(await readFile(tsa.chain.rootPem)),
    required: true,
    ...overrides,
  };
}

interface ClosedChannel {
  channel: Channel;
  namespace: string;
  hook: RecorderEvidence;
  recorder: TranscriptRecorder;
}

async function closedChannel(opts: { events?: number; hold?: boolean; tsa?: TimestampAuthority } = {}) {
  const uid = randomUUID();
  const name = `ir-${uid.slice(0, 6)}`;
  const namespace = `wr-${name}`;
  const recorder = await startTranscriptRecorder(
    join(dir, `transcript-${name}`),
    { name, uid, caseId: name.toUpperCase(), namespace },
    opts.events ?? 25,
  );
  recorders.push(recorder);
  const channel = toChannel({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, uid, ...(opts.hold ? { annotations: { [ANNOTATION_LEGAL_HOLD]: 'true' } } : {}) },
    spec: { caseId: name.toUpperCase(), closed: true },
  });
  const hook = new RecorderEvidence({
    recorder: new HttpRecorderClient({ urls: { status: recorder.url, control: recorder.url } }),
    store,
    signingKey,
    publicKey: signingKey,
    now: () => new Date(),
    policy: 'require',
    tsa: opts.tsa ?? (await tsaAuthority()),
  });
  return { channel, namespace, hook, recorder } satisfies ClosedChannel;
}

function archived(outcome: EvidenceOutcome) {
  assert.equal(outcome.kind, 'archived', JSON.stringify(outcome));
  if (outcome.kind !== 'archived') throw new Error('unreachable');
  return outcome.archive;
}

function keyAndVersion(location: string): { key: string; versionId: string } {
  const m = /^s3:\/\/evidence\/(.+)\?versionId=(.+)$/.exec(location);
  assert.ok(m?.[1] && m[2], location);
  return { key: m[1], versionId: decodeURIComponent(m[2]) };
}

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  assert.fail('the server accepted it');
}

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (out += s) });
  return { code, out };
}

/** Writes the archive with the named entry replaced (or removed) to a file. */
async function variant(archive: Uint8Array, file: string, entry: string, data?: Uint8Array): Promise<string> {
  const { entries, mtime } = readTar(archive);
  const rest = entries.filter((e) => e.name !== entry);
  const path = join(dir, file);
  await writeFile(path, writeTar(data ? [...rest, { name: entry, data }] : rest, mtime));
  return path;
}

describe('S3 evidence store with Object Lock and RFC 3161 timestamps (versitygw, timestamp-server, openssl)', () => {
  it('refuses, in one line, a bucket without versioning or Object Lock', async () => {
    await s3.createPlainBucket('versioned-no-lock', true);
    await s3.createPlainBucket('unversioned', false);
    await newStore().checkBucket();
    const noLock = newStore('versioned-no-lock');
    await assert.rejects(noLock.checkBucket(), (err: Error) => {
      assert.match(err.message, /^evidence bucket s3:\/\/versioned-no-lock has no Object Lock/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    const unversioned = newStore('unversioned');
    await assert.rejects(unversioned.checkBucket(), /^Error: evidence bucket s3:\/\/unversioned has versioning/);
    noLock.destroy();
    unversioned.destroy();
  });

  it('the operator refuses to start on such a bucket, or without an existing signing key, in one line', async () => {
    // The operator uses the SDK's default chain: here the explicit test credentials in the environment (and the
    // metadata service disabled by the versitygw helper), never a lookup beyond loopback.
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    const keyFile = join(dir, 'signing-key.pem');
    await writeFile(keyFile, signingKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const config = (bucket: string, key = keyFile) =>
      loadConfig(
        [
          '--evidence-store=s3',
          `--evidence-s3-bucket=${bucket}`,
          `--evidence-s3-endpoint=${s3.endpoint}`,
          '--evidence-s3-force-path-style=true',
          '--evidence-retention=7y',
          `--signing-key=${key}`,
          `--evidence-tsa-url=${tsa.url}`,
          `--evidence-tsa-root=${tsa.chain.rootPem}`,
        ],
        {},
      );
    const setup = await evidenceFromConfig(config(BUCKET), () => new Date());
    assert.ok(setup.store instanceof S3EvidenceStore);
    setup.store.destroy();
    assert.equal(setup.tsa?.url, tsa.url);
    assert.equal(setup.tsa?.roots.length, 1);
    await assert.rejects(
      evidenceFromConfig(config('versioned-no-lock'), () => new Date()),
      (err: Error) =>
        /^evidence bucket s3:\/\/versioned-no-lock has no Object Lock/.test(err.message) && !err.message.includes('\n'),
    );
    const missing = join(dir, 'no-such-key.pem');
    await assert.rejects(
      evidenceFromConfig(config(BUCKET, missing), () => new Date()),
      /with the S3 store it comes from a Secret.*does not exist/,
    );
  });

  it("a closed channel's archive is stored once with COMPLIANCE retention, timestamped and verified; the server refuses to delete it or shorten its retention", async () => {
    const { channel, namespace, hook, recorder } = await closedChannel();
    const before = Date.now();
    const archive = archived(await hook.export(channel, namespace));
    assert.equal(recorder.seals(), 1);
    const { key, versionId } = keyAndVersion(archive.location);
    assert.equal(key, `warroom/${channel.metadata.name.toLowerCase()}-${channel.metadata.uid}.tar`);
    assert.equal(archive.events, 25);
    assert.equal(archive.legalHold, false);
    assert.ok(archive.timestampedAt, 'the archive has a timestamp');
    assert.ok(Math.abs(Date.parse(archive.timestampedAt) - before) < 60_000, archive.timestampedAt);
    const retainUntil = Date.parse(archive.retainUntil ?? '');
    assert.ok(retainUntil >= before + SEVEN_YEARS_MS - 1_000 && retainUntil <= Date.now() + SEVEN_YEARS_MS + 1_000);

    // What the server itself says about that version.
    const retention = await s3.client.send(
      new GetObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }),
    );
    assert.equal(retention.Retention?.Mode, 'COMPLIANCE');
    assert.equal(retention.Retention?.RetainUntilDate?.getTime(), retainUntil);
    const object = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }));
    const bytes = await object.Body!.transformToByteArray();
    assert.equal(createHash('sha256').update(bytes).digest('hex'), archive.sha256);

    // Nobody deletes it: not the version, not with the governance bypass; its retention cannot be shortened.
    const del = await s3Error(
      s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId })),
    );
    assert.equal(del.status, 403, JSON.stringify(del));
    const bypass = await s3Error(
      s3.client.send(
        new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId, BypassGovernanceRetention: true }),
      ),
    );
    assert.equal(bypass.status, 403, JSON.stringify(bypass));
    for (const shorter of [
      { Mode: 'COMPLIANCE' as const, RetainUntilDate: new Date(Date.now() + 86_400_000) },
      { Mode: 'GOVERNANCE' as const, RetainUntilDate: new Date(retainUntil) },
    ]) {
      const refused = await s3Error(
        s3.client.send(
          new PutObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId: versionId, Retention: shorter }),
        ),
      );
      assert.equal(refused.status, 403, `${shorter.Mode}: ${JSON.stringify(refused)}`);
    }
    const still = await s3.client.send(
      new GetObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }),
    );
    assert.equal(still.Retention?.Mode, 'COMPLIANCE');
    assert.equal(still.Retention?.RetainUntilDate?.getTime(), retainUntil);

    // The stored archive verifies with the project's verify (pinned signer, pinned TSA, timestamp required)...
    const file = join(dir, 'stored.tar');
    await writeFile(file, bytes);
    const ok = await cli([
      'verify',
      file,
      '--public-key',
      publicKeyPem,
      '--tsa-root',
      tsa.chain.rootPem,
      '--require-timestamp',
    ]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /ok {3}timestamp: valid token from O=warroom test, CN=alpha timestamping at /);
    assert.match(ok.out, /VALID: .*, timestamped/);

    // ...and the same token with plain openssl, over the exact manifest.sig bytes.
    const entries = readTar(bytes).entries;
    const tsr = join(dir, 'manifest.tsr');
    const sig = join(dir, 'manifest.sig');
    await writeFile(tsr, entries.find((e) => e.name === 'manifest.tsr')!.data);
    await writeFile(sig, entries.find((e) => e.name === 'manifest.sig')!.data);
    assert.equal(await opensslVerify(tsr, sig, tsa.chain.rootPem), 'Verification: OK');
    assert.match(await opensslVerify(tsr, sig, foreign.rootPem), /FAILED/);

    // A changed byte anywhere fails: in the transcript, in the token.
    for (const [what, offset] of [
      ['transcript', indexOf(bytes, '"incident update 3: ')],
      ['token', indexOf(bytes, 'alpha timestamping')],
    ] as const) {
      assert.ok(offset > 0, what);
      const tampered = new Uint8Array(bytes);
      tampered[offset + 2] = (tampered[offset + 2] ?? 0) ^ 0x01;
      const path = join(dir, `tampered-${what}.tar`);
      await writeFile(path, tampered);
      const bad = await cli(['verify', path, '--public-key', publicKeyPem, '--tsa-root', tsa.chain.rootPem]);
      assert.equal(bad.code, 1, `${what}: ${bad.out}`);
      assert.match(bad.out, /INVALID/);
    }

    // A token from another TSA (openssl's own, over the very same manifest.sig) is not one from the pinned TSA.
    const foreignToken = join(dir, 'foreign.tsr');
    await opensslTimestamp(foreign, sig, foreignToken);
    assert.equal(await opensslVerify(foreignToken, sig, foreign.rootPem), 'Verification: OK');
    const swapped = await variant(bytes, 'foreign-token.tar', 'manifest.tsr', await readFile(foreignToken));
    const foreignRun = await cli(['verify', swapped, '--public-key', publicKeyPem, '--tsa-root', tsa.chain.rootPem]);
    assert.equal(foreignRun.code, 1, foreignRun.out);
    assert.match(foreignRun.out, /FAIL timestamp: the token does not verify: .*certificate/);

    // The token cannot be stripped (the signed v2 manifest promises it).
    const stripped = await variant(bytes, 'stripped.tar', 'manifest.tsr');
    const strippedRun = await cli(['verify', stripped, '--public-key', publicKeyPem]);
    assert.equal(strippedRun.code, 1, strippedRun.out);
    assert.match(strippedRun.out, /FAIL timestamp entry: the warroom-evidence\/v2 manifest promises manifest.tsr/);
  });

  it('the real TSA grants every request: 600 in a row, each token over its data and from the pinned root', async () => {
    // Before the nonce was always minimally encoded, 1 request in 256 got HTTP 400 (a close failed, or with optional
    // timestamps went unstamped): 600 requests met it with p ≈ 90 %.
    const roots = parseCertificates(await readFile(tsa.chain.rootPem));
    for (let i = 0; i < 600; i++) {
      const data = new TextEncoder().encode(`manifest.sig ${i}`);
      const token = await requestTimestamp(data, { url: tsa.url });
      if (i % 100 === 0) assert.equal((await verifyTimestampToken(token, data, roots)).ok, true);
    }
  });

  it('closing twice (a retry, another replica) keeps the one stored version: same key, same signed manifest, first token', async () => {
    const { channel, namespace, hook } = await closedChannel();
    const first = archived(await hook.export(channel, namespace));
    const second = archived(await hook.export(channel, namespace));
    assert.equal(second.location, first.location);
    assert.equal(second.sha256, first.sha256);
    assert.equal(second.timestampedAt, first.timestampedAt);
    const { key } = keyAndVersion(first.location);
    const versions = await s3.client.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
    assert.equal(versions.Versions?.length, 1, JSON.stringify(versions.Versions));

    // Other bytes under a taken key are a conflict, never a replacement.
    await assert.rejects(
      store.put(key.slice('warroom/'.length), new TextEncoder().encode('not the archive')),
      (err: unknown) => err instanceof EvidenceConflictError && /already stored at s3:\/\/evidence\//.test(err.message),
    );
  });

  it('a channel with the legal-hold annotation is stored under a legal hold', async () => {
    const { channel, namespace, hook } = await closedChannel({ hold: true });
    const archive = archived(await hook.export(channel, namespace));
    assert.equal(archive.legalHold, true);
    const { key, versionId } = keyAndVersion(archive.location);
    const hold = await s3.client.send(
      new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }),
    );
    assert.equal(hold.LegalHold?.Status, 'ON');
  });

  it('an unreachable TSA keeps the namespace (failed, nothing stored) unless timestamps are optional', async () => {
    const closedPort = await freeTcpPort();
    const down = await tsaAuthority({ url: `http://127.0.0.1:${closedPort}/api/v1/timestamp`, timeoutMs: 2_000 });
    const required = await closedChannel({ tsa: down });
    const outcome = await required.hook.export(required.channel, required.namespace);
    assert.equal(outcome.kind, 'failed', JSON.stringify(outcome));
    if (outcome.kind !== 'failed') return;
    assert.equal(outcome.reason, 'TimestampUnavailable');
    assert.match(
      outcome.message,
      /namespace stays: the timestamp authority http:\/\/127\.0\.0\.1:\d+\/api\/v1\/timestamp cannot be reached: ECONNREFUSED/,
    );
    const listed = await s3.client.send(
      new ListObjectVersionsCommand({
        Bucket: BUCKET,
        Prefix: `warroom/${required.channel.metadata.name.toLowerCase()}`,
      }),
    );
    assert.equal(listed.Versions?.length ?? 0, 0, 'nothing was stored');

    const optional = await closedChannel({ tsa: { ...down, required: false } });
    const archive = archived(await optional.hook.export(optional.channel, optional.namespace));
    assert.equal(archive.timestampedAt, undefined);
    const path = join(dir, 'untimestamped.tar');
    await writeFile(path, await store.get(archive.location));
    const v1 = await cli(['verify', path, '--public-key', publicKeyPem]);
    assert.equal(v1.code, 0, v1.out);
    const demanded = await cli([
      'verify',
      path,
      '--public-key',
      publicKeyPem,
      '--tsa-root',
      tsa.chain.rootPem,
      '--require-timestamp',
    ]);
    assert.equal(demanded.code, 1, demanded.out);
    assert.match(demanded.out, /FAIL timestamp: no manifest.tsr/);
  });

  it('a TSA whose token does not chain to the configured root is refused before anything is stored', async () => {
    const wrongRoot = await tsaAuthority({ roots: parseCertificates(await readFile(foreign.rootPem)) });
    const c = await closedChannel({ tsa: wrongRoot });
    const outcome = await c.hook.export(c.channel, c.namespace);
    assert.equal(outcome.kind, 'failed', JSON.stringify(outcome));
    if (outcome.kind === 'failed') {
      assert.equal(outcome.reason, 'TimestampInvalid');
      assert.match(outcome.message, /does not verify against the configured roots/);
    }
  });
});

function indexOf(bytes: Uint8Array, text: string): number {
  return Buffer.from(bytes).indexOf(Buffer.from(text, 'utf8'));
}
