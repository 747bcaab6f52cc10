// Two operators with leader election and the S3 evidence store; the leader is SIGKILLed mid-teardown, right after
// the archive landed in the bucket and before the namespace went. The other replica takes over, seals again (the
// recorder's export is the same), finds the key taken by the same signed manifest, keeps that version, verifies it
// and only then deletes the namespace: one version in the bucket, the one status.archive names.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { namespaceName } from '../../src/controllers/incidentchannel/names.ts';
import { loadOrCreateSigningKey } from '../../src/evidence/signing.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { freeTcpPort } from '../support/matrix-ports.ts';
import { installCrd, SHARED_CLUSTER_RELAY_PORTS, testShard } from '../support/operator.ts';
import { makeTsaChain, startTimestampServer, type TimestampServer } from '../support/timestamp-authority.ts';
import { startTranscriptRecorder, type TranscriptRecorder } from '../support/transcript-recorder.ts';
import { type S3Peer, startVersitygw } from '../support/versitygw.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const cluster = useCluster();
const shard = testShard();
const k = () => kubectl(cluster());
const lease = `evidence-failover-${randomBytes(3).toString('hex')}`;
let dir: string;
let s3: S3Peer;
let tsa: TimestampServer;
let recorder: TranscriptRecorder | undefined;
let recorderPort: number;
const operators: ChildProcess[] = [];

interface Channel {
  metadata: { name: string; uid: string };
  status?: {
    phase?: string;
    archive?: { location?: string };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

before(async () => {
  await installCrd(await cluster.ready());
  dir = await mkdtemp(join(tmpdir(), 'warroom-evidence-failover-'));
  s3 = await startVersitygw(join(dir, 's3'));
  await s3.createLockBucket('evidence');
  tsa = await startTimestampServer(await makeTsaChain(join(dir, 'tsa'), 'failover'));
  await loadOrCreateSigningKey(join(dir, 'signing-key.pem'));
  recorderPort = await freeTcpPort();
});

after(async () => {
  for (const o of operators) if (o.exitCode === null) o.kill('SIGKILL');
  await recorder?.stop();
  await tsa?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function operatorProcess(identity: string): ChildProcess {
  const recorderUrl = `http://127.0.0.1:${recorderPort}`;
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'operator',
      `--kubeconfig=${cluster().kubeconfig}`,
      '--leader-elect=true',
      // Short lease timings: the test waits for the hand-over, a production crash may take a minute.
      '--lease-duration=15s',
      '--renew-deadline=10s',
      '--retry-period=2s',
      `--lease-name=${lease}`,
      '--namespace=warroom-system',
      `--identity=${identity}`,
      `--channel-selector=${shard.selector}`,
      '--log-level=warn',
      '--http-port=0',
      '--secrets=plain',
      '--evidence-policy=require',
      SHARED_CLUSTER_RELAY_PORTS,
      `--recorder-status-url=${recorderUrl}`,
      `--recorder-control-url=${recorderUrl}`,
      `--signing-key=${join(dir, 'signing-key.pem')}`,
      '--evidence-store=s3',
      '--evidence-s3-bucket=evidence',
      `--evidence-s3-endpoint=${s3.endpoint}`,
      '--evidence-s3-force-path-style=true',
      '--evidence-retention=7y',
      `--evidence-tsa-url=${tsa.url}`,
      `--evidence-tsa-root=${tsa.chain.rootPem}`,
    ],
    {
      // Explicit test credentials for the SDK's default chain; never the metadata service.
      env: {
        PATH: process.env.PATH ?? '',
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  operators.push(child);
  return child;
}

const holder = async () =>
  (await k().getJson<{ spec?: { holderIdentity?: string } }>(['lease', lease, '-n', 'warroom-system']))?.spec
    ?.holderIdentity;

test('the leader killed between storing the archive and deleting the namespace: stored once, verified, then deleted', async () => {
  const first = operatorProcess('replica-a');
  await eventually('replica-a leads', async () => (await holder()) === 'replica-a', 60_000);
  operatorProcess('replica-b');

  const name = `failover-${randomBytes(3).toString('hex')}`;
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
    200,
    recorderPort,
  );
  const key = `${name}-${created.metadata.uid}.tar`;
  const versions = async () =>
    (await s3.client.send(new ListObjectVersionsCommand({ Bucket: 'evidence', Prefix: key }))).Versions ?? [];

  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  // The moment the archive is in the bucket, the leader dies: it is still reading it back and verifying it.
  const deadline = Date.now() + 120_000;
  while ((await versions()).length === 0) {
    assert.ok(Date.now() < deadline, 'the archive never reached the bucket');
    await new Promise((r) => setTimeout(r, 10));
  }
  first.kill('SIGKILL');
  const [stored] = await versions();
  const ns = await k().getJson<{ metadata: { deletionTimestamp?: string } }>(['namespace', namespace]);
  assert.ok(ns && !ns.metadata.deletionTimestamp, 'the kill landed before the namespace deletion');

  const closed = await eventually(
    'Closed by replica-b',
    async () => {
      const c = await k().getJson<Channel>(['incidentchannel', name]);
      return c?.status?.phase === 'Closed' ? c : undefined;
    },
    120_000,
  );
  assert.equal(await holder(), 'replica-b');
  await eventually('namespace gone', async () => (await k().getJson(['namespace', namespace])) === undefined, 60_000);
  const evidence = closed.status?.conditions?.find((c) => c.type === 'EvidenceArchived');
  assert.equal(evidence?.status, 'True', JSON.stringify(closed.status?.conditions));
  // Sealed twice (once per replica), stored once: the version the dead leader wrote is the one on record.
  assert.equal(recorder.seals(), 2);
  const remaining = await versions();
  assert.equal(remaining.length, 1, JSON.stringify(remaining));
  assert.equal(
    closed.status?.archive?.location,
    `s3://evidence/${key}?versionId=${encodeURIComponent(stored?.VersionId ?? '')}`,
  );
});
