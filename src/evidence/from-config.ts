// The operator's evidence settings turned into a store, a signing key and a timestamp authority, checked at start:
// a bucket that could lose evidence, a missing key or an unreadable TSA root stops the operator with one line.
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { OperatorConfig } from '../config.ts';
import { loadOrCreateSigningKey, loadSigningKey } from './signing.ts';
import { type EvidenceStore, FileEvidenceStore } from './store.ts';
import { parseCertificates, type TimestampAuthority } from './timestamp.ts';

export interface EvidenceSetup {
  store: EvidenceStore;
  signingKey: KeyObject;
  tsa?: TimestampAuthority;
}

export async function evidenceFromConfig(config: OperatorConfig, now: () => Date): Promise<EvidenceSetup> {
  const s3 = config.evidenceStore === 's3';
  const signingKey = await (s3 ? loadSigningKey(config.signingKey) : loadOrCreateSigningKey(config.signingKey)).catch(
    (err: unknown) => {
      throw new Error(
        `cannot load ${s3 ? '' : 'or create '}the evidence signing key ${config.signingKey} (--signing-key; ${
          s3 ? 'with the S3 store it comes from a Secret' : 'the chart mounts a volume at /var/lib/warroom'
        }): ${err instanceof Error ? err.message : String(err)}`,
      );
    },
  );
  let store: EvidenceStore;
  if (s3 && config.evidenceS3Bucket && config.evidenceRetention !== undefined) {
    // Loaded only for this store: the AWS SDK costs the file-store operator 5–9 MiB of RSS and 3.6 MiB of source text
    // in its heap (bench/operator-memory's per-module import costs).
    const { S3EvidenceStore } = await import('./s3-store.ts');
    const bucketStore = new S3EvidenceStore({
      bucket: config.evidenceS3Bucket,
      prefix: config.evidenceS3Prefix,
      region: config.evidenceS3Region,
      ...(config.evidenceS3Endpoint ? { endpoint: config.evidenceS3Endpoint } : {}),
      forcePathStyle: config.evidenceS3ForcePathStyle,
      retentionMs: config.evidenceRetention,
      now,
    });
    await bucketStore.checkBucket();
    store = bucketStore;
  } else if (s3) {
    throw new Error('--evidence-store=s3 needs --evidence-s3-bucket and --evidence-retention');
  } else {
    store = new FileEvidenceStore(config.evidenceDir);
  }
  let tsa: TimestampAuthority | undefined;
  if (config.evidenceTsaUrl && config.evidenceTsaRoot) {
    const path = config.evidenceTsaRoot;
    const roots = await readFile(path)
      .then((pem) => parseCertificates(pem))
      .catch((err: unknown) => {
        throw new Error(
          `cannot read the TSA root certificate(s) ${path} (--evidence-tsa-root): ${err instanceof Error ? err.message : String(err)}`,
        );
      });
    tsa = { url: config.evidenceTsaUrl, roots, required: config.evidenceTimestamp === 'required' };
  }
  return { store, signingKey, ...(tsa ? { tsa } : {}) };
}
