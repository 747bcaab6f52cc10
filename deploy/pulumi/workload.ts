import type * as k8s from '@pulumi/kubernetes';
import {
  evidenceSingleAttach,
  objectNames,
  selectorLabels,
  type WarroomSettings,
  wantsEvidenceVolume,
} from './settings.ts';

type EnvVar = k8s.types.input.core.v1.EnvVar;

export const HTTP_PORT = 8080;
/** The conventional "nonroot" UID; the image's USER is the same number. */
export const RUN_AS = 65532;
/** Where the sealing certificate ConfigMap is mounted, when one is given. */
export const SEALING_CERT_DIR = '/etc/warroom/sealing-cert';
/** The evidence volume: the operator's evidenceDir and default signingKey live under it. */
export const EVIDENCE_MOUNT = '/var/lib/warroom';
/** Where signingKeySecret is mounted, read-only, apart from the archives. */
export const SIGNING_KEY_DIR = '/etc/warroom/signing-key';
/** Where the TSA root ConfigMap is mounted, when a TSA is configured. */
export const TSA_ROOT_DIR = '/etc/warroom/tsa-root';
/**
 * The recorder sidecar's ports in each war room's Synapse pod (src/controllers/incidentchannel/desired/ports.ts):
 * status (read-only) and control (seal, export, notices).
 */
export const RECORDER_PORTS = [9101, 9102] as const;
/** The labels the operator puts on every war-room namespace and pod (src/controllers/incidentchannel/names.ts). */
export const WAR_ROOM_NAMESPACE_LABELS = { 'app.kubernetes.io/managed-by': 'warroom' } as const;
export const SYNAPSE_POD_LABELS = { 'app.kubernetes.io/component': 'synapse' } as const;

/** The signing key the operator reads: signingKeySecret's, or the one it creates on the evidence volume. */
export function signingKeyPath(s: WarroomSettings): string {
  return s.signingKeySecret ? `${SIGNING_KEY_DIR}/signing-key.pem` : `${EVIDENCE_MOUNT}/signing-key.pem`;
}

const labelList = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** The operator's settings as WARROOM_<FLAG> variables (src/config.ts), the same set the chart's Deployment sets. */
export function operatorEnv(s: WarroomSettings): EnvVar[] {
  const sealed = s.secretsMode === 'sealed';
  const certFromConfigMap = sealed && s.sealingCertConfigMap !== '';
  const s3 = s.evidenceStore === 's3';
  const plain: [string, string | undefined][] = [
    ['WARROOM_LEADER_ELECT', String(s.leaderElection)],
    ['WARROOM_LEASE_NAME', s.leaseName],
    ['WARROOM_HTTP_PORT', String(HTTP_PORT)],
    ['WARROOM_MAX_TTL', s.maxTtl],
    ['WARROOM_WARN_BEFORE', s.warnBefore],
    ['WARROOM_WORKERS', String(s.workers)],
    ['WARROOM_NAMESPACE_PREFIX', s.namespacePrefix],
    ['WARROOM_LOG_LEVEL', s.logLevel],
    ['WARROOM_RESYNC_PERIOD', s.resyncPeriod],
    ['WARROOM_CHANNEL_SELECTOR', s.channelSelector || undefined],
    ['WARROOM_RELAY_PORTS', s.relayPorts || undefined],
    ['WARROOM_POD_CIDRS', s.podCidrs.join(',')],
    ['WARROOM_SERVICE_CIDRS', s.serviceCidrs.join(',')],
    ['WARROOM_NODE_CIDRS', s.nodeCidrs.length > 0 ? s.nodeCidrs.join(',') : undefined],
    ['WARROOM_DNS_NAMESPACE', s.dnsNamespace],
    ['WARROOM_DNS_LABELS', labelList(s.dnsLabels)],
    ['WARROOM_INGRESS_NAMESPACE_LABELS', labelList(s.ingressNamespaceLabels)],
    ['WARROOM_MONITORING_NAMESPACE_LABELS', labelList(s.monitoringNamespaceLabels)],
    ['WARROOM_SECRETS', s.secretsMode],
    ['WARROOM_SEALING_CERT', certFromConfigMap ? `${SEALING_CERT_DIR}/cert.pem` : undefined],
    ['WARROOM_SEALED_SECRETS_NAMESPACE', sealed && !certFromConfigMap ? s.sealedSecretsNamespace : undefined],
    ['WARROOM_SEALED_SECRETS_SERVICE', sealed && !certFromConfigMap ? s.sealedSecretsService : undefined],
    ['WARROOM_SEALED_SECRETS_PORT', sealed && !certFromConfigMap ? s.sealedSecretsPort : undefined],
    ['WARROOM_OPERATOR_IMAGE', s.image],
    ['WARROOM_COTURN_IMAGE', s.images.coturn],
    ['WARROOM_ELEMENT_IMAGE', s.images.element],
    ['WARROOM_POSTGRES_IMAGE', s.images.postgres],
    ['WARROOM_LIVEKIT_IMAGE', s.images.livekit],
    ['WARROOM_SYNAPSE_IMAGE', s.images.synapse],
    ['WARROOM_EVIDENCE_DIR', `${EVIDENCE_MOUNT}/evidence`],
    ['WARROOM_SIGNING_KEY', signingKeyPath(s)],
    // require: a war room's namespace is deleted only once its archive is verified; never skip-unreachable here.
    ['WARROOM_EVIDENCE_POLICY', 'require'],
    ['WARROOM_EVIDENCE_STORE', s.evidenceStore],
    ['WARROOM_EVIDENCE_S3_BUCKET', s3 ? s.evidenceS3Bucket : undefined],
    ['WARROOM_EVIDENCE_S3_PREFIX', s3 ? s.evidenceS3Prefix : undefined],
    ['WARROOM_EVIDENCE_S3_REGION', s3 ? s.evidenceS3Region : undefined],
    ['WARROOM_EVIDENCE_S3_ENDPOINT', s3 && s.evidenceS3Endpoint ? s.evidenceS3Endpoint : undefined],
    ['WARROOM_EVIDENCE_S3_FORCE_PATH_STYLE', s3 ? String(s.evidenceS3ForcePathStyle) : undefined],
    ['WARROOM_EVIDENCE_RETENTION', s3 ? s.evidenceRetention : undefined],
    ['WARROOM_EVIDENCE_TSA_URL', s.evidenceTsaUrl || undefined],
    ['WARROOM_EVIDENCE_TSA_ROOT', s.evidenceTsaUrl ? `${TSA_ROOT_DIR}/tsa-root.pem` : undefined],
    [
      'WARROOM_EVIDENCE_TIMESTAMP',
      s.evidenceTsaUrl ? (s.evidenceTimestampRequired ? 'required' : 'optional') : undefined,
    ],
    ['WARROOM_HTTP_ANONYMOUS_HEALTH', String(s.httpAnonymousHealth)],
    ['WARROOM_HTTP_RATE_LIMIT_BURST', String(s.httpRateLimitBurst)],
    ['WARROOM_HTTP_RATE_LIMIT_PER_SECOND', String(s.httpRateLimitPerSecond)],
    [
      'WARROOM_TOKEN_REVIEW_AUDIENCES',
      s.tokenReviewAudiences.length > 0 ? s.tokenReviewAudiences.join(',') : undefined,
    ],
  ];
  return [
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ...plain.filter((e): e is [string, string] => e[1] !== undefined).map(([name, value]) => ({ name, value })),
  ];
}

/** The Deployment spec: the chart's, field for field (restricted security context, probes, spread, rollout). */
export function operatorDeploymentSpec(s: WarroomSettings): k8s.types.input.apps.v1.DeploymentSpec {
  const selector = selectorLabels(s);
  const spread = (topologyKey: string) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selector },
    matchLabelKeys: ['pod-template-hash'],
  });
  // With anonymous health off the endpoints want a token the kubelet does not send: probe the port instead.
  const check = (path: string) =>
    s.httpAnonymousHealth ? { httpGet: { path, port: 'http' } } : { tcpSocket: { port: 'http' } };
  const probe = (path: string, periodSeconds: number, failureThreshold = 3) => ({
    ...check(path),
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  });
  const certVolume = s.secretsMode === 'sealed' && s.sealingCertConfigMap !== '';
  const keySecret = s.signingKeySecret !== '';
  const volume = wantsEvidenceVolume(s);
  const tsa = s.evidenceTsaUrl !== '';
  return {
    replicas: s.replicas,
    revisionHistoryLimit: 5,
    selector: { matchLabels: selector },
    // Recreate with a volume that attaches to one node: a surge pod on another node could never mount it (and
    // maxUnavailable 0 keeps the old pod, so the rollout would hang); on the same node, two operators would write one
    // evidence directory. Otherwise the new pod is Ready (caches synced) before an old one goes.
    strategy: evidenceSingleAttach(s)
      ? { type: 'Recreate' }
      : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: {
      metadata: { labels: selector },
      spec: {
        serviceAccountName: objectNames(s).serviceAccount,
        automountServiceAccountToken: true,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 30,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: RUN_AS,
          runAsGroup: RUN_AS,
          // The evidence volume's files belong to this group, so uid 65532 can write a fresh volume (and read the
          // signing-key Secret's root-owned file). OnRootMismatch: otherwise every start walks every archive on the
          // volume to chown and chmod it.
          fsGroup: RUN_AS,
          fsGroupChangePolicy: 'OnRootMismatch',
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [
          {
            name: 'operator',
            image: s.image,
            imagePullPolicy: s.imagePullPolicy,
            args: ['operator'],
            ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
            env: operatorEnv(s),
            // AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the evidence bucket (never in a value or a ConfigMap).
            ...(s.evidenceStore === 's3' && s.evidenceS3CredentialsSecret
              ? { envFrom: [{ secretRef: { name: s.evidenceS3CredentialsSecret } }] }
              : {}),
            startupProbe: { ...check('/healthz'), periodSeconds: 2, failureThreshold: 30 },
            livenessProbe: probe('/healthz', 10),
            readinessProbe: probe('/readyz', 5),
            resources: s.resources,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: RUN_AS,
              runAsGroup: RUN_AS,
              allowPrivilegeEscalation: false,
              privileged: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
              seccompProfile: { type: 'RuntimeDefault' },
            },
            volumeMounts: [
              { name: 'tmp', mountPath: '/tmp' },
              ...(volume ? [{ name: 'evidence', mountPath: EVIDENCE_MOUNT }] : []),
              ...(tsa ? [{ name: 'tsa-root', mountPath: TSA_ROOT_DIR, readOnly: true }] : []),
              ...(keySecret ? [{ name: 'signing-key', mountPath: SIGNING_KEY_DIR, readOnly: true }] : []),
              ...(certVolume ? [{ name: 'sealing-cert', mountPath: SEALING_CERT_DIR, readOnly: true }] : []),
            ],
          },
        ],
        volumes: [
          { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
          // evidencePersistence false: an emptyDir, and EVERY ARCHIVE IS LOST when this pod goes. Test stacks only.
          ...(!volume
            ? []
            : s.evidencePersistence
              ? [{ name: 'evidence', persistentVolumeClaim: { claimName: objectNames(s).evidenceClaim } }]
              : [{ name: 'evidence', emptyDir: {} }]),
          ...(tsa
            ? [
                {
                  name: 'tsa-root',
                  configMap: {
                    name: s.evidenceTsaRootConfigMap,
                    items: [{ key: 'tsa-root.pem', path: 'tsa-root.pem' }],
                  },
                },
              ]
            : []),
          ...(keySecret
            ? [
                {
                  name: 'signing-key',
                  secret: {
                    secretName: s.signingKeySecret,
                    // Owner root, group 65532 (fsGroup), nobody else: the operator refuses a key others can read.
                    defaultMode: 0o440,
                    items: [{ key: 'signing-key.pem', path: 'signing-key.pem' }],
                  },
                },
              ]
            : []),
          ...(certVolume
            ? [
                {
                  name: 'sealing-cert',
                  configMap: { name: s.sealingCertConfigMap, items: [{ key: 'cert.pem', path: 'cert.pem' }] },
                },
              ]
            : []),
        ],
        topologySpreadConstraints: [spread('kubernetes.io/hostname'), spread('topology.kubernetes.io/zone')],
      },
    },
  };
}

export function operatorServiceSpec(s: WarroomSettings): k8s.types.input.core.v1.ServiceSpec {
  return {
    type: 'ClusterIP',
    selector: selectorLabels(s),
    ports: [{ name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP' }],
  };
}

/** The evidence volume's claim (created only with evidencePersistence). */
export function evidenceClaimSpec(s: WarroomSettings): k8s.types.input.core.v1.PersistentVolumeClaimSpec {
  return {
    accessModes: s.evidenceAccessModes,
    ...(s.evidenceStorageClass ? { storageClassName: s.evidenceStorageClass } : {}),
    resources: { requests: { storage: s.evidenceSize } },
  };
}

/** With one replica a minAvailable 1 budget would refuse every eviction: no node hosting it could be drained. */
export function wantsPdb(s: WarroomSettings): boolean {
  return s.podDisruptionBudget && s.replicas > 1;
}

export function operatorPdbSpec(s: WarroomSettings): k8s.types.input.policy.v1.PodDisruptionBudgetSpec {
  return { minAvailable: 1, selector: { matchLabels: selectorLabels(s) } };
}

/** Ingress on the HTTP port from the monitoring namespace; egress to the API server, the recorders and DNS only. */
export function operatorNetworkPolicySpec(s: WarroomSettings): k8s.types.input.networking.v1.NetworkPolicySpec {
  const apiServer = {
    ports: s.apiServerPorts.map((port) => ({ port, protocol: 'TCP' })),
    ...(s.apiServerCidrs.length > 0 ? { to: s.apiServerCidrs.map((cidr) => ({ ipBlock: { cidr } })) } : {}),
  };
  const external = (cidrs: string[], ports: number[]) => ({
    ports: ports.map((port) => ({ port, protocol: 'TCP' })),
    ...(cidrs.length > 0 ? { to: cidrs.map((cidr) => ({ ipBlock: { cidr } })) } : {}),
  });
  const evidence = [
    ...(s.evidenceStore === 's3' ? [external(s.evidenceS3EgressCidrs, s.evidenceS3EgressPorts)] : []),
    ...(s.evidenceTsaUrl ? [external(s.evidenceTsaEgressCidrs, s.evidenceTsaEgressPorts)] : []),
  ];
  return {
    podSelector: { matchLabels: selectorLabels(s) },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      {
        from: [{ namespaceSelector: { matchLabels: s.monitoringNamespaceLabels } }],
        ports: [{ port: 'http', protocol: 'TCP' }],
      },
    ],
    egress: [
      apiServer,
      {
        to: [
          {
            namespaceSelector: { matchLabels: WAR_ROOM_NAMESPACE_LABELS },
            podSelector: { matchLabels: SYNAPSE_POD_LABELS },
          },
        ],
        ports: RECORDER_PORTS.map((port) => ({ port, protocol: 'TCP' })),
      },
      // The evidence bucket's S3 endpoint and the RFC 3161 timestamp authority, when configured.
      ...evidence,
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': s.dnsNamespace } },
            podSelector: { matchLabels: s.dnsLabels },
          },
        ],
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
      },
    ],
  };
}

/** The operator's own namespace runs under the restricted Pod Security Standard, like every war room. */
export function namespaceLabels(): Record<string, string> {
  return {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/warn': 'restricted',
    'pod-security.kubernetes.io/audit': 'restricted',
  };
}
