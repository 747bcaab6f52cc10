// versitygw (pinned, built by hack/cluster/build-binaries.sh): an S3 gateway over a POSIX directory that enforces
// Object Lock, started on loopback with a versioning directory (without one a lock bucket is unversioned).
// Credentials are made up per run and given explicitly: the AWS SDK must never look for the metadata service.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { ensureBinaries } from '../../hack/cluster/binaries.ts';
import { freeTcpPort } from './matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from './matrix-process.ts';

// No SDK default-chain lookups (metadata service, shared files) in this process, even by accident.
process.env.AWS_EC2_METADATA_DISABLED = 'true';

export interface S3Peer {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  client: S3Client;
  process: PeerProcess;
  /** A bucket with Object Lock (and so versioning) enabled. */
  createLockBucket(name: string): Promise<void>;
  /** A plain versioned bucket without Object Lock, and one without versioning. */
  createPlainBucket(name: string, versioned: boolean): Promise<void>;
  stop(): Promise<void>;
}

export async function startVersitygw(dir: string): Promise<S3Peer> {
  // WARROOM_VERSITYGW: an already built binary (skips the build script, which waits on the shared build lock).
  const bin = process.env.WARROOM_VERSITYGW || (await ensureBinaries(['versitygw'])).versitygw;
  await mkdir(join(dir, 'root'), { recursive: true });
  await mkdir(join(dir, 'versions'), { recursive: true });
  const port = await freeTcpPort();
  const credentials = {
    accessKeyId: `test${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('hex'),
  };
  const proc = startPeerProcess(
    bin,
    ['--port', `127.0.0.1:${port}`, 'posix', '--versioning-dir', join(dir, 'versions'), join(dir, 'root')],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        ROOT_ACCESS_KEY_ID: credentials.accessKeyId,
        ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  await waitUntil(
    'versitygw',
    async () => {
      await client.send(new ListBucketsCommand({}));
      return true;
    },
    proc,
    30_000,
  );
  return {
    endpoint,
    region,
    credentials,
    client,
    process: proc,
    async createLockBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true }));
    },
    async createPlainBucket(name, versioned) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      if (versioned) {
        await client.send(
          new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
        );
      }
    },
    async stop() {
      client.destroy();
      await proc.stop(5_000);
    },
  };
}
