// The operator itself with the S3 evidence store and a timestamp authority, on the real local control plane: at start
// it checks the bucket; closing a channel seals it through the recorder's HTTP API, timestamps and stores the archive
// in versitygw with COMPLIANCE retention, verifies the stored version, records s3://…?versionId=… in status.archive,
// and only then deletes the namespace. kwok runs no pods: the recorder's real control API runs on loopback over a real
// transcript, and the operator is pointed at it by its recorder URL settings.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectRetentionCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { namespaceName } from '../../src/controllers/incidentchannel/names.ts';
import { loadOrCreateSigningKey } from '../../src/evidence/signing.ts';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { freeTcpPort } from '../support/matrix-ports.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';
import { makeTsaChain, startTimestampServer, type TimestampServer } from '../support/timestamp-authority.ts';
import { startTranscriptRecorder, type TranscriptRecorder } from '../support/transcript-recorder.ts';
import { type S3Peer, startVersitygw } from '../support/versitygw.ts';

const cluster = useCluster();
const shard = testShard();
const k = () => kubectl(cluster());
let dir: string;
let s3: S3Peer;
let tsa: TimestampServer;
let operator: Operator;
let recorder: TranscriptRecorder | undefined;
let recorderPort: number;

interface Channel {
  metadata: { name: string; uid: string };
  status?: {
    phase?: string;
    namespace?: string;
    archive?: { location?: string; sha256?: string; verifiedAt?: string };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}
const condition = (c: Channel | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);

before(async () => {
  await installCrd(await cluster.ready());
  dir = await mkdtemp(join(tmpdir(), 'warroom-evidence-s3-operator-'));
  s3 = await startVersitygw(join(dir, 's3'));
  await s3.createLockBucket('evidence');
  tsa = await startTimestampServer(await makeTsaChain(join(dir, 'tsa'), 'operator-test'));
  // The S3 store never creates a signing key: it must exist (in production, a Secret).
  await loadOrCreateSigningKey(join(dir, 'signing-key.pem'));
  // The operator's AWS SDK uses its default chain: explicit test credentials, no metadata service (see versitygw.ts).
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  recorderPort = await freeTcpPort();
  const recorderUrl = `http://127.0.0.1:${recorderPort}`;
  operator = await startTestOperator(cluster(), {
    selector: shard.selector,
    args: [
      '--evidence-policy=require',
      `--recorder-status-url=${recorderUrl}`,
      `--recorder-control-url=${recorderUrl}`,
      `--signing-key=${join(dir, 'signing-key.pem')}`,
      '--evidence-store=s3',
      '--evidence-s3-bucket=evidence',
      '--evidence-s3-prefix=warroom/',
      `--evidence-s3-endpoint=${s3.endpoint}`,
      '--evidence-s3-force-path-style=true',
      '--evidence-retention=7y',
      `--evidence-tsa-url=${tsa.url}`,
      `--evidence-tsa-root=${tsa.chain.rootPem}`,
    ],
  });
});

after(async () => {
  await operator?.stop();
  await recorder?.stop();
  await tsa?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('close: timestamped archive stored with COMPLIANCE retention and verified in the bucket, THEN the namespace goes', async () => {
  const name = `s3-evidence-${randomBytes(3).toString('hex')}`;
  await k().apply({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, labels: { [shard.label]: shard.value } },
    spec: { caseId: name, ttl: '72h', participants: [{ handle: 'falcon', role: 'lead' }] },
  });
  const created = await eventually('Ready', async () => {
    const c = await k().getJson<Channel>(['incidentchannel', name]);
    return c?.status?.phase === 'Ready' ? c : undefined;
  });
  const namespace = namespaceName(name, created.metadata.uid);
  recorder = await startTranscriptRecorder(
    join(dir, 'transcript'),
    { name, uid: created.metadata.uid, caseId: name, namespace },
    40,
    recorderPort,
  );

  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  const closed = await eventually(
    'Closed',
    async () => {
      const c = await k().getJson<Channel>(['incidentchannel', name]);
      return c?.status?.phase === 'Closed' ? c : undefined;
    },
    120_000,
  );
  await eventually('namespace gone', async () => (await k().getJson(['namespace', namespace])) === undefined, 60_000);
  assert.equal(condition(closed, 'EvidenceArchived')?.status, 'True', JSON.stringify(closed.status?.conditions));
  const location = closed.status?.archive?.location ?? '';
  const m = /^s3:\/\/evidence\/(warroom\/.+\.tar)\?versionId=(.+)$/.exec(location);
  assert.ok(m?.[1] && m[2], location);
  assert.equal(m[1], `warroom/${name}-${created.metadata.uid}.tar`);
  const retention = await s3.client.send(
    new GetObjectRetentionCommand({ Bucket: 'evidence', Key: m[1], VersionId: decodeURIComponent(m[2]) }),
  );
  assert.equal(retention.Retention?.Mode, 'COMPLIANCE');
  const versions = await s3.client.send(new ListObjectVersionsCommand({ Bucket: 'evidence', Prefix: m[1] }));
  assert.equal(versions.Versions?.length, 1);
  assert.equal(recorder.seals(), 1);
});
