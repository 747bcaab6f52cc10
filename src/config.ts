import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseDuration } from './api/v1alpha1/duration.ts';
import { LIMITS } from './api/v1alpha1/incidentchannel.ts';
import { DEFAULT_RELAY_PORT_COUNT } from './controllers/incidentchannel/context-from-spec.ts';

const duration = (name: string) =>
  z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `${name}: "${s}" is not a duration like 72h, 90m or 1h30m` });
      return z.NEVER;
    }
    return ms;
  });
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const labels = list.transform((pairs, ctx) => {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const [k, v] = p.split('=');
    if (!k || v === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${p}" is not key=value` });
      return z.NEVER;
    }
    out[k] = v;
  }
  return out;
});

/** A retention such as `7y`, `90d` or `48h`; a year counts 365.25 days rounded up, never less than a calendar year. */
const retention = z.string().transform((s, ctx) => {
  const m = /^([1-9][0-9]{0,2})([yd])$/.exec(s);
  const ms = m ? Math.ceil(Number(m[1]) * (m[2] === 'y' ? 365.25 : 1)) * 86_400_000 : (parseDuration(s) ?? Number.NaN);
  if (!(ms >= 86_400_000)) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a retention of at least a day like 7y, 90d or 48h` });
    return z.NEVER;
  }
  return ms;
});
const bool = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');

/**
 * A part of the NodePort range (`30000-31999`) holding at least one relay block. Kubernetes gives Services that name
 * no NodePort one from the upper part of its range first (KEP-3668), so a band near the lower end collides least.
 */
const portRange = z.string().transform((s, ctx) => {
  const m = /^(\d{5})-(\d{5})$/.exec(s.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < LIMITS.nodePortMin || max > LIMITS.nodePortMax || max - min + 1 < DEFAULT_RELAY_PORT_COUNT) {
    ctx.addIssue({
      code: 'custom',
      message:
        `"${s}" is not a range like 30000-31999 inside the NodePort range ${LIMITS.nodePortMin}-${LIMITS.nodePortMax} ` +
        `holding at least ${DEFAULT_RELAY_PORT_COUNT} ports`,
    });
    return z.NEVER;
  }
  return { min, max };
});

/** Every operator setting, from flags (`--max-ttl=72h`) or env (`WARROOM_MAX_TTL=72h`); flags win. */
const Config = z.object({
  kubeconfig: z.string().optional(),
  maxTtl: duration('--max-ttl').default(30 * 24 * 3_600_000),
  warnBefore: z
    .string()
    .default('1h,10m')
    .transform((s, ctx) =>
      s.split(',').map((p) => {
        const ms = parseDuration(p.trim());
        if (ms === undefined) ctx.addIssue({ code: 'custom', message: `--warn-before: "${p}" is not a duration` });
        return ms ?? 0;
      }),
    ),
  workers: z.coerce.number().int().min(1).max(64).default(4),
  namespace: z.string().min(1).default('warroom-system'),
  namespacePrefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,9}$/)
    .default('wr'),
  identity: z.string().min(1).default(`${hostname()}-${process.pid}`),
  leaderElect: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  leaseName: z.string().default('warroom-operator'),
  /** Lease timings (cert-manager's defaults; see src/kube/leader.ts for why not client-go's 15/10/2 s). */
  leaseDuration: duration('--lease-duration').default(60_000),
  renewDeadline: duration('--renew-deadline').default(40_000),
  retryPeriod: duration('--retry-period').default(15_000),
  httpAddress: z.string().default('0.0.0.0'),
  httpPort: z.coerce.number().int().min(0).max(65535).default(8080),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  /**
   * Where the TURN relay blocks of channels without `spec.calls.turn.relayPorts` are allocated: the ports a kind
   * cluster maps, or a band the platform keeps for war rooms. Ports that specs pin belong outside it.
   */
  relayPorts: portRange.optional(),
  podCidrs: list.default(['10.244.0.0/16']),
  serviceCidrs: list.default(['10.96.0.0/12']),
  nodeCidrs: list.default([]),
  dnsNamespace: z.string().default('kube-system'),
  dnsLabels: labels.default({ 'k8s-app': 'kube-dns' }),
  ingressNamespaceLabels: labels.default({ 'kubernetes.io/metadata.name': 'ingress-nginx' }),
  monitoringNamespaceLabels: labels.default({ 'kubernetes.io/metadata.name': 'monitoring' }),
  resyncPeriod: duration('--resync-period').default(10 * 60_000),
  /** Let /healthz, /readyz and /metrics through without a token (kubelet probes, most Prometheus set-ups). */
  httpAnonymousHealth: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  httpRateLimitBurst: z.coerce.number().int().min(1).default(40),
  httpRateLimitPerSecond: z.coerce.number().min(0.1).default(20),
  /** Audiences the status API accepts in bearer tokens (TokenReview); empty = the apiserver's default. */
  tokenReviewAudiences: list.default([]),
  /** `sealed`: secrets become SealedSecrets (the operator keeps no plaintext); `plain`: Secrets, for clusters without the controller. */
  secrets: z.enum(['sealed', 'plain']).default('sealed'),
  /** The sealed-secrets controller's public certificate; without it, it is fetched from the controller's Service. */
  sealingCert: z.string().optional(),
  sealedSecretsNamespace: z.string().default('kube-system'),
  sealedSecretsService: z.string().default('sealed-secrets-controller'),
  /** Service port name or number of the controller's HTTP API (its chart names it `http`). */
  sealedSecretsPort: z.string().default('http'),
  synapseImage: z.string().optional(),
  elementImage: z.string().optional(),
  coturnImage: z.string().optional(),
  postgresImage: z.string().optional(),
  /** The LiveKit SFU of war rooms with `calls.sfu` (built by hack/images; upstream's is built with pion forks). */
  livekitImage: z.string().optional(),
  /** The operator's own image: the provisioning Job and the recorder sidecar run it. */
  operatorImage: z.string().optional(),
  /** Where verified evidence archives are kept (the operator's own volume). */
  evidenceDir: z.string().min(1).default('/var/lib/warroom/evidence'),
  /** The operator's ed25519 key (PKCS#8 PEM) that signs every archive's manifest; created 0600 when absent. */
  signingKey: z.string().min(1).default('/var/lib/warroom/signing-key.pem'),
  /**
   * `require`: a war room's namespace is deleted only once its archive verified (or an admin forces it).
   * `skip-unreachable`: for simulated clusters (kwok) whose pods never run; never for real war rooms.
   */
  evidencePolicy: z.enum(['require', 'skip-unreachable']).default('require'),
  /** `file`: archives on the operator's volume (kind, laptops; one replica). `s3`: a bucket with Object Lock. */
  evidenceStore: z.enum(['file', 's3']).default('file'),
  evidenceS3Bucket: z.string().min(3).max(63).optional(),
  /** Key prefix inside the bucket, e.g. `warroom/`. */
  evidenceS3Prefix: z.string().default(''),
  evidenceS3Region: z.string().min(1).default('us-east-1'),
  /** An S3-compatible endpoint (AWS needs none). Credentials come from the SDK's default chain. */
  evidenceS3Endpoint: z.url().optional(),
  evidenceS3ForcePathStyle: bool,
  /** COMPLIANCE retention put on every archive (S3 store); it can be extended later, never shortened. */
  evidenceRetention: retention.optional(),
  /** An RFC 3161 timestamp authority: every archive then carries a token over its manifest.sig (format v2). */
  evidenceTsaUrl: z.url().optional(),
  /** PEM file with the TSA's root certificate(s); each token is checked against them before it is stored. */
  evidenceTsaRoot: z.string().min(1).optional(),
  /** `required`: an unreachable TSA keeps the namespace (EvidenceArchived=False); `optional`: archive without token. */
  evidenceTimestamp: z.enum(['required', 'optional']).default('required'),
  /** The recorder's read-only and control endpoints; `{namespace}` is the war room's namespace. */
  recorderStatusUrl: z.string().default('http://synapse.{namespace}.svc:9101'),
  recorderControlUrl: z.string().default('http://synapse.{namespace}.svc:9102'),
  /** Only reconcile IncidentChannels matching this label selector (canary an operator version, shard, or test). */
  channelSelector: z.string().max(1024).optional(),
});

export type OperatorConfig = z.infer<typeof Config>;

const FLAGS = Object.keys(Config.shape) as (keyof typeof Config.shape)[];
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (s: string) => `WARROOM_${kebab(s).replace(/-/g, '_').toUpperCase()}`;

/** Parses argv and env; a bad value is a clear one-line error naming the flag, never a stack trace. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(FLAGS.map((f) => [kebab(f), { type: 'string' as const }])),
    strict: true,
  });
  const raw: Record<string, string | undefined> = {};
  for (const f of FLAGS) raw[f] = (values[kebab(f)] as string | undefined) ?? env[envName(f)];
  if (!raw.namespace && env.POD_NAMESPACE) raw.namespace = env.POD_NAMESPACE;
  if (!raw.identity && env.POD_NAME) raw.identity = env.POD_NAME;
  const parsed = Config.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`).join('; ');
    throw new Error(`invalid operator configuration: ${msg}`);
  }
  const evidence = evidenceConfigProblem(parsed.data);
  if (evidence) throw new Error(`invalid operator configuration: ${evidence}`);
  return parsed.data;
}

function evidenceConfigProblem(c: OperatorConfig): string | undefined {
  if (c.evidenceStore === 's3') {
    if (!c.evidenceS3Bucket) return '--evidence-s3-bucket: required with --evidence-store=s3';
    if (c.evidenceRetention === undefined) {
      return '--evidence-retention: required with --evidence-store=s3 (e.g. 7y; COMPLIANCE retention cannot be shortened)';
    }
  }
  if (c.evidenceTsaUrl && !c.evidenceTsaRoot) return '--evidence-tsa-root: required with --evidence-tsa-url';
  if (c.evidenceTsaRoot && !c.evidenceTsaUrl) return '--evidence-tsa-url: required with --evidence-tsa-root';
  return undefined;
}
