import { z } from 'zod';

const duration = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, 'a duration like 72h, 90m or 1h30m');
const cidr = z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'a CIDR like 10.244.0.0/16');
const dnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label');
const labels = z.record(z.string(), z.string().max(63));
const optionalName = z
  .string()
  .max(253)
  .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/, 'a DNS subdomain name, or empty');

/**
 * Everything the Pulumi program installs is decided here, from stack config (`pulumi config set warroom:<key>`); the
 * keys and defaults mirror the Helm chart's values.yaml so the two installs are the same operator.
 */
export const WarroomSettings = z
  .object({
    /** Base name of every object (the chart's fullname). */
    name: dnsLabel.default('warroom'),
    namespace: dnsLabel.default('warroom-system'),
    /** Create the namespace, labelled for the restricted Pod Security Standard. */
    createNamespace: z.boolean().default(true),
    /** The operator image, by digest in production (`registry/warroom@sha256:...`). */
    image: z.string().min(1),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    /** One: the default evidence volume is ReadWriteOnce (see evidenceAccessModes). */
    replicas: z.number().int().min(1).max(5).default(1),
    leaderElection: z.boolean().default(true),
    leaseName: dnsLabel.default('warroom-operator'),
    maxTtl: duration.default('720h'),
    warnBefore: z.string().default('1h,10m'),
    workers: z.number().int().min(1).max(64).default(4),
    namespacePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,9}$/)
      .default('wr'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    resyncPeriod: duration.default('10m'),
    channelSelector: z.string().max(1024).default(''),
    /** Where relay blocks of channels that pin none are allocated (`30000-31999`); empty: the whole NodePort range. */
    relayPorts: z
      .string()
      .regex(/^(\d{5}-\d{5})?$/)
      .default(''),
    podCidrs: z.array(cidr).min(1).default(['10.244.0.0/16']),
    serviceCidrs: z.array(cidr).min(1).default(['10.96.0.0/12']),
    nodeCidrs: z.array(cidr).default([]),
    dnsNamespace: dnsLabel.default('kube-system'),
    dnsLabels: labels.default({ 'k8s-app': 'kube-dns' }),
    ingressNamespaceLabels: labels.default({ 'kubernetes.io/metadata.name': 'ingress-nginx' }),
    monitoringNamespaceLabels: labels.default({ 'kubernetes.io/metadata.name': 'monitoring' }),
    secretsMode: z.enum(['sealed', 'plain']).default('sealed'),
    sealedSecretsNamespace: dnsLabel.default('kube-system'),
    sealedSecretsService: dnsLabel.default('sealed-secrets-controller'),
    sealedSecretsPort: z
      .string()
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?|\d{1,5})$/)
      .default('http'),
    /** A ConfigMap in the namespace with the controller's certificate under cert.pem; no service-proxy access then. */
    sealingCertConfigMap: z.string().max(253).default(''),
    /** Default images of the war-room workloads (a channel's spec.images overrides them); unset: built-in defaults. */
    images: z
      .object({
        synapse: z.string().min(1).optional(),
        element: z.string().min(1).optional(),
        coturn: z.string().min(1).optional(),
        postgres: z.string().min(1).optional(),
        livekit: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    httpAnonymousHealth: z.boolean().default(true),
    httpRateLimitBurst: z.number().int().min(1).default(40),
    httpRateLimitPerSecond: z.number().min(0.1).default(20),
    tokenReviewAudiences: z.array(z.string().min(1)).default([]),
    resources: z
      .object({
        requests: z.record(z.string(), z.string()).default({ cpu: '50m', memory: '128Mi' }),
        limits: z.record(z.string(), z.string()).default({ memory: '512Mi' }),
      })
      .default({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } }),
    /**
     * The evidence volume at /var/lib/warroom: archives under evidence/, and the signing key the operator creates when
     * signingKeySecret is empty. false: an emptyDir, and every archive is lost when the pod goes (test stacks only).
     */
    evidencePersistence: z.boolean().default(true),
    /** Empty: the cluster's default StorageClass. */
    evidenceStorageClass: optionalName.default(''),
    evidenceSize: z
      .string()
      .regex(/^\d+(\.\d+)?(k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/, 'a quantity like 20Gi')
      .default('20Gi'),
    /** ReadWriteOnce: one replica, Recreate rollouts. ReadWriteMany allows replicas > 1. */
    evidenceAccessModes: z
      .array(z.enum(['ReadWriteOnce', 'ReadWriteOncePod', 'ReadWriteMany']))
      .min(1)
      .default(['ReadWriteOnce']),
    /** Recommended: a Secret in the namespace with the ed25519 PKCS#8 PEM under signing-key.pem, apart from the archives. */
    signingKeySecret: optionalName.default(''),
    /**
     * `file`: the evidence volume above (one replica). `s3`: a bucket with Object Lock, each archive written once
     * with COMPLIANCE retention; no volume, replicas > 1 allowed. The chart's evidence.store.
     */
    evidenceStore: z.enum(['file', 's3']).default('file'),
    evidenceS3Bucket: z
      .string()
      .max(63)
      .regex(/^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$/, 'an S3 bucket name')
      .default(''),
    evidenceS3Prefix: z
      .string()
      .max(200)
      .regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty or like warroom/')
      .default('warroom/'),
    evidenceS3Region: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('us-east-1'),
    /** Empty for AWS S3; an S3-compatible server's URL otherwise. */
    evidenceS3Endpoint: z.string().max(512).default(''),
    evidenceS3ForcePathStyle: z.boolean().default(false),
    /** COMPLIANCE retention of every archive: 7y, 90d, 48h. Never shortened once written. */
    evidenceRetention: z
      .string()
      .regex(/^([1-9][0-9]{0,2}[yd]|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/, 'a retention like 7y, 90d or 48h')
      .default('7y'),
    /** A Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; empty: the AWS SDK's default chain. */
    evidenceS3CredentialsSecret: optionalName.default(''),
    evidenceS3EgressCidrs: z.array(cidr).default([]),
    evidenceS3EgressPorts: z.array(z.number().int().min(1).max(65535)).min(1).default([443]),
    /** An RFC 3161 timestamp authority; empty: no timestamps. */
    evidenceTsaUrl: z.string().max(512).default(''),
    /** A ConfigMap in the namespace with the TSA root certificate(s) under tsa-root.pem. */
    evidenceTsaRootConfigMap: optionalName.default(''),
    /** true: an unreachable TSA keeps the war room's namespace; false: archive without a token. */
    evidenceTimestampRequired: z.boolean().default(true),
    evidenceTsaEgressCidrs: z.array(cidr).default([]),
    evidenceTsaEgressPorts: z.array(z.number().int().min(1).max(65535)).min(1).default([443]),
    /** Created only with replicas > 1: with one replica, minAvailable 1 would block every node drain. */
    podDisruptionBudget: z.boolean().default(true),
    networkPolicy: z.boolean().default(true),
    apiServerCidrs: z.array(cidr).default([]),
    apiServerPorts: z.array(z.number().int().min(1).max(65535)).min(1).default([443, 6443]),
  })
  .strict()
  .refine((s) => s.leaderElection || s.replicas === 1, {
    message: 'leaderElection=false needs replicas=1: two leaders would reconcile the same channel at once',
    path: ['leaderElection'],
  })
  .refine((s) => s.evidenceStore !== 's3' || s.evidenceS3Bucket !== '', {
    message: 'evidenceStore=s3 needs evidenceS3Bucket (a bucket with versioning and Object Lock)',
    path: ['evidenceS3Bucket'],
  })
  .refine((s) => s.evidenceStore !== 's3' || s.signingKeySecret !== '', {
    message: 'evidenceStore=s3 needs signingKeySecret: every replica must sign with the same key',
    path: ['signingKeySecret'],
  })
  .refine((s) => s.evidenceTsaUrl === '' || s.evidenceTsaRootConfigMap !== '', {
    message: 'evidenceTsaUrl needs evidenceTsaRootConfigMap (the TSA root each token is checked against)',
    path: ['evidenceTsaRootConfigMap'],
  })
  .refine((s) => s.replicas === 1 || !evidenceSingleAttach(s), {
    message:
      'replicas > 1 needs evidenceAccessModes to include ReadWriteMany: a ReadWriteOnce evidence volume attaches to one node, so another replica could never start',
    path: ['replicas'],
  });

/** The evidence volume attaches to one node (or pod) only: one replica, and Recreate rollouts. */
export function evidenceSingleAttach(s: {
  evidenceStore: 'file' | 's3';
  evidencePersistence: boolean;
  evidenceAccessModes: readonly string[];
}): boolean {
  return s.evidenceStore === 'file' && s.evidencePersistence && !s.evidenceAccessModes.includes('ReadWriteMany');
}

/** The evidence volume exists only for the file store. */
export function wantsEvidenceVolume(s: { evidenceStore: 'file' | 's3' }): boolean {
  return s.evidenceStore === 'file';
}

export type WarroomSettings = z.output<typeof WarroomSettings>;
export type WarroomSettingsInput = z.input<typeof WarroomSettings>;

/** One clear line naming the bad keys, like the operator's own config errors. */
export function parseSettings(input: unknown): WarroomSettings {
  const parsed = WarroomSettings.safeParse(input);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `warroom:${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid stack configuration: ${msg}`);
  }
  return parsed.data;
}

/**
 * The Role the operator writes in an incident namespace for spec.access
 * (src/controllers/incidentchannel/desired/access.ts): the only Role it may escalate and bind.
 */
export const ACCESS_ROLE = 'participant-credentials-reader';

/** Names shared by the RBAC and the workload, so a binding can never point at the wrong object. */
export function objectNames(s: WarroomSettings) {
  return {
    base: s.name,
    serviceAccount: s.name,
    leaderElectionRole: `${s.name}-leader-election`,
    eventsRole: `${s.name}-events`,
    sealingCertRole: `${s.name}-sealing-cert`,
    evidenceClaim: `${s.name}-evidence`,
  };
}

/** The selector labels of the operator pods (the chart's, with the Pulumi stack as the instance). */
export function selectorLabels(s: WarroomSettings): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'warroom',
    'app.kubernetes.io/instance': s.name,
    'app.kubernetes.io/component': 'operator',
  };
}
