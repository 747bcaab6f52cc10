import type { KubeObject } from '../../../kube/objects.ts';
import {
  renderHomeserverYaml,
  renderSynapseLogYaml,
  SYNAPSE_CONFIG_FILES,
  SYNAPSE_DEFAULT_PATHS,
  type SynapseConfigParams,
  synapseCommandArgs,
} from '../../../matrix/config/synapse.ts';
import { channelLabels } from '../names.ts';
import { ADMIN_BOT_HANDLE, matrixUserId } from './accounts.ts';
import type { BuildContext } from './context.ts';
import { turnUris } from './endpoints.ts';
import { ANNOTATION_CONFIG_HASH, childMeta, configHash } from './object-meta.ts';
import type { Container, PodTemplate, Probe, Volume, VolumeMount } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { POSTGRES_CONNECTION } from './postgres.ts';
import { buildRecorderSidecar, RECORDER_CLAIM, recorderAnswersMembership } from './recorder.ts';
import { POSTGRES_SECRET_KEYS, SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';
import { dataClaimTemplate } from './storage.ts';

/**
 * The homeserver: one StatefulSet pod (single process, so one replica), its config in a ConfigMap with no secret in
 * it (Synapse reads every secret from `*_path` files of the mounted Secret, and `--no-secrets-in-config` makes it
 * refuse anything else), its state on a PVC.
 */

/** The official image's `synapse` user; runAsNonRoot needs the uid spelled out because the image's USER is root. */
export const SYNAPSE_UID = 991;
export const SYNAPSE_CONFIG_MAP = 'synapse-config';

/**
 * libpq ignores a password file that group or others can read, and a Secret volume under fsGroup is always at
 * least 0440; so an init container copies it into a memory-backed emptyDir as a 0600 file Synapse owns.
 */
const PGPASS_SOURCE_DIR = '/run/secrets/postgres';
const PGPASS_DIR = '/run/pgpass';
export const SYNAPSE_PGPASS_PATH = `${PGPASS_DIR}/pgpass`;

export function synapseConfigParams(ctx: BuildContext): SynapseConfigParams {
  return {
    serverName: ctx.serverName,
    publicBaseUrl: ctx.publicBaseUrl,
    turnUris: turnUris(ctx),
    database:
      ctx.database === 'postgres'
        ? { kind: 'postgres', ...POSTGRES_CONNECTION, passfilePath: SYNAPSE_PGPASS_PATH }
        : { kind: 'sqlite' },
    // Only the provisioning bot creates #control and #ops; nobody else may create any alias.
    aliasCreators: [matrixUserId(ADMIN_BOT_HANDLE, ctx.serverName)],
    ports: { client: PORTS.synapseClient, metrics: PORTS.synapseMetrics },
    ...(ctx.calls.enabled && ctx.calls.sfu
      ? { matrixRtc: { authoriserUrl: ctx.calls.sfu.authoriserUrl, openIdPort: PORTS.synapseOpenId } }
      : {}),
  };
}

function synapseConfigData(ctx: BuildContext): Record<string, string> {
  return {
    [SYNAPSE_CONFIG_FILES.homeserver]: renderHomeserverYaml(synapseConfigParams(ctx)),
    [SYNAPSE_CONFIG_FILES.log]: renderSynapseLogYaml(),
  };
}

export function buildSynapseConfigMap(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(ctx, SYNAPSE_CONFIG_MAP, COMPONENTS.synapse),
    data: synapseConfigData(ctx),
  };
}

export function buildSynapseService(ctx: BuildContext): KubeObject {
  const ports: { name: string; port: number; targetPort: number; protocol: string }[] = [
    { name: 'client', port: PORTS.synapseClient, targetPort: PORTS.synapseClient, protocol: 'TCP' },
    { name: 'metrics', port: PORTS.synapseMetrics, targetPort: PORTS.synapseMetrics, protocol: 'TCP' },
  ];
  // The MatrixRTC authoriser validates OpenID tokens here, and asks the recorder about room membership.
  if (ctx.calls.enabled && ctx.calls.sfu) {
    ports.push({ name: 'openid', port: PORTS.synapseOpenId, targetPort: PORTS.synapseOpenId, protocol: 'TCP' });
    if (recorderAnswersMembership(ctx)) {
      ports.push({
        name: 'rec-members',
        port: PORTS.recorderMembership,
        targetPort: PORTS.recorderMembership,
        protocol: 'TCP',
      });
    }
  }
  // The recorder sidecar: read-only metrics/status, and its control port (seal, export, notices) for the operator.
  if (ctx.recording.enabled) {
    ports.push(
      { name: 'recorder', port: PORTS.recorder, targetPort: PORTS.recorder, protocol: 'TCP' },
      { name: 'recorder-ctl', port: PORTS.recorderControl, targetPort: PORTS.recorderControl, protocol: 'TCP' },
    );
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(ctx, 'synapse', COMPONENTS.synapse),
    spec: { type: 'ClusterIP', selector: channelLabels(ctx.channel.name, COMPONENTS.synapse), ports },
  };
}

/**
 * With recording on, the recorder sidecar joins the pod: it shares the pod's lifetime and the homeserver's network
 * namespace, and its transcript lives on a claim of its own.
 */
export function buildSynapseStatefulSet(ctx: BuildContext): KubeObject {
  const labels = channelLabels(ctx.channel.name, COMPONENTS.synapse);
  const paths = SYNAPSE_DEFAULT_PATHS;
  const health: Probe = { httpGet: { path: '/health', port: PORTS.synapseClient } };
  const postgres = ctx.database === 'postgres';

  const volumes: Volume[] = [
    { name: 'config', configMap: { name: SYNAPSE_CONFIG_MAP, defaultMode: 0o444 } },
    { name: 'secrets', secret: { secretName: SECRET_NAMES.synapse, defaultMode: 0o440 } },
    { name: 'tmp', emptyDir: { sizeLimit: '512Mi' } },
  ];
  const mounts: VolumeMount[] = [
    { name: 'config', mountPath: paths.configDir, readOnly: true },
    { name: 'secrets', mountPath: paths.secretsDir, readOnly: true },
    { name: 'data', mountPath: paths.dataDir },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const initContainers: Container[] = [];
  if (postgres) {
    volumes.push(
      {
        name: 'postgres-credentials',
        secret: {
          secretName: SECRET_NAMES.postgres,
          items: [{ key: POSTGRES_SECRET_KEYS.pgpass, path: 'pgpass' }],
          defaultMode: 0o440,
        },
      },
      { name: 'pgpass', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    );
    mounts.push({ name: 'pgpass', mountPath: PGPASS_DIR, readOnly: true });
    initContainers.push({
      name: 'pgpass',
      image: ctx.images.synapse,
      command: ['install', '-m', '0600', `${PGPASS_SOURCE_DIR}/pgpass`, SYNAPSE_PGPASS_PATH],
      volumeMounts: [
        { name: 'postgres-credentials', mountPath: PGPASS_SOURCE_DIR, readOnly: true },
        { name: 'pgpass', mountPath: PGPASS_DIR },
      ],
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
      securityContext: restrictedContainerSecurityContext(),
    });
  }

  const synapse: Container = {
    name: 'synapse',
    image: ctx.images.synapse,
    // Straight to the homeserver module: the image's start.py would try to drop privileges and generate config.
    command: ['python'],
    args: synapseCommandArgs(paths),
    ports: [
      { name: 'client', containerPort: PORTS.synapseClient, protocol: 'TCP' },
      { name: 'metrics', containerPort: PORTS.synapseMetrics, protocol: 'TCP' },
      ...(ctx.calls.enabled && ctx.calls.sfu
        ? [{ name: 'openid', containerPort: PORTS.synapseOpenId, protocol: 'TCP' as const }]
        : []),
    ],
    volumeMounts: mounts,
    resources: ctx.resources.synapse,
    securityContext: restrictedContainerSecurityContext(),
    // Schema migrations on first boot (Postgres) can take minutes; liveness only starts once it has answered.
    startupProbe: { ...health, periodSeconds: 5, failureThreshold: 120 },
    readinessProbe: { ...health, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    livenessProbe: { ...health, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 4 },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };

  const recorder = ctx.recording.enabled ? buildRecorderSidecar(ctx) : undefined;
  const template: PodTemplate = {
    metadata: { labels, annotations: { [ANNOTATION_CONFIG_HASH]: configHash(synapseConfigData(ctx)) } },
    spec: {
      serviceAccountName: COMPONENTS.synapse,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(SYNAPSE_UID),
      ...(initContainers.length > 0 ? { initContainers } : {}),
      containers: recorder ? [synapse, recorder.container] : [synapse],
      volumes: recorder ? [...volumes, ...recorder.volumes] : volumes,
    },
  };

  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: childMeta(ctx, 'synapse', COMPONENTS.synapse),
    spec: {
      replicas: 1,
      serviceName: 'synapse',
      selector: { matchLabels: labels },
      template,
      volumeClaimTemplates: [
        dataClaimTemplate(ctx, COMPONENTS.synapse),
        ...(recorder ? [dataClaimTemplate(ctx, COMPONENTS.synapse, RECORDER_CLAIM)] : []),
      ],
    },
  };
}
