import { SECRET_KEYS } from '../../../crypto/secret-material.ts';
import type { KubeObject } from '../../../kube/objects.ts';
import { type LiveKitConfigParams, liveKitStartCommand, renderLiveKitConfig } from '../../../matrix/config/livekit.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext, SfuSettings } from './context.ts';
import { ANNOTATION_CONFIG_HASH, childMeta, configHash } from './object-meta.ts';
import type { PodTemplate, ResourceRequirements } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { LIVEKIT_SECRET_KEYS, SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';

/**
 * The war room's LiveKit SFU for MatrixRTC calls: one replica (a call's room lives in one process). Signalling and
 * the RoomService on a ClusterIP Service (clients through the Ingress, the authoriser inside the namespace); media on
 * a second Service exposed like coturn's (NodePort or LoadBalancer, each port on its own number, since LiveKit
 * advertises the port it listens on). The ConfigMap holds no secret: the API key pair is LiveKit's `key_file` from the
 * livekit-credentials Secret, and the TURN secret is spliced in at start from turn-secret (see matrix/config/livekit.ts).
 */

export const LIVEKIT_UID = 65532;
export const LIVEKIT_CONFIG_MAP = 'livekit-config';
/** Signalling and RoomService; the media Service is `livekit-media`. */
export const LIVEKIT_SERVICE = 'livekit';
export const LIVEKIT_MEDIA_SERVICE = 'livekit-media';
/** Where the image puts the binary (ours and the upstream image alike). */
export const LIVEKIT_BINARY = '/livekit-server';
const CONF_FILE = 'livekit.yaml';
const TEMPLATE_DIR = '/etc/livekit/template';
const KEYS_DIR = '/run/secrets/livekit';
const TURN_SECRET_DIR = '/run/secrets/turn';
const RUNTIME_DIR = '/run/livekit';
/** TURN credentials LiveKit hands each participant live this long. */
const TURN_CREDENTIAL_TTL_SECONDS = 3600;

export const LIVEKIT_DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { cpu: '2', memory: '512Mi' },
};

function sfuOf(ctx: BuildContext): SfuSettings {
  if (!ctx.calls.sfu) throw new Error('the LiveKit builders need calls.sfu');
  return ctx.calls.sfu;
}

export function liveKitConfigParams(ctx: BuildContext): LiveKitConfigParams {
  const sfu = sfuOf(ctx);
  return {
    port: PORTS.livekitHttp,
    rtcTcpPort: sfu.tcpPort,
    rtcUdpPort: sfu.udpPort,
    ...(sfu.nodeIp !== undefined ? { nodeIp: sfu.nodeIp } : {}),
    keyFile: `${KEYS_DIR}/${LIVEKIT_SECRET_KEYS.keyFile}`,
    // The war room's coturn as clients reach it. Always set: without any ICE server LiveKit would hand clients public
    // STUN servers. With no public address at all, the Service name at least keeps in-cluster clients working.
    turn: {
      host: ctx.calls.host ?? ctx.calls.externalIPs[0] ?? sfu.nodeIp ?? `coturn.${ctx.namespace}.svc`,
      port: ctx.calls.listenNodePort ?? PORTS.turn,
      protocol: 'udp',
      ttlSeconds: TURN_CREDENTIAL_TTL_SECONDS,
    },
  };
}

function liveKitConfigData(ctx: BuildContext): Record<string, string> {
  return { [CONF_FILE]: renderLiveKitConfig(liveKitConfigParams(ctx)) };
}

export function buildLiveKitConfigMap(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(ctx, LIVEKIT_CONFIG_MAP, COMPONENTS.livekit),
    data: liveKitConfigData(ctx),
  };
}

export function buildLiveKitServices(ctx: BuildContext): KubeObject[] {
  const sfu = sfuOf(ctx);
  const selector = channelLabels(ctx.channel.name, COMPONENTS.livekit);
  const nodePort = ctx.calls.serviceType === 'NodePort';
  const media = [
    { name: 'rtc-tcp', port: sfu.tcpPort, protocol: 'TCP' },
    { name: 'rtc-udp', port: sfu.udpPort, protocol: 'UDP' },
  ];
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: childMeta(ctx, LIVEKIT_SERVICE, COMPONENTS.livekit),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'http', port: PORTS.livekitHttp, targetPort: PORTS.livekitHttp, protocol: 'TCP' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: childMeta(ctx, LIVEKIT_MEDIA_SERVICE, COMPONENTS.livekit),
      spec: {
        type: ctx.calls.serviceType,
        ...(ctx.calls.serviceType === 'LoadBalancer' ? { allocateLoadBalancerNodePorts: false } : {}),
        selector,
        // ICE checks are per source address: SNAT would make the SFU answer a node, not the client.
        externalTrafficPolicy: 'Local',
        ...(ctx.calls.serviceExternalIPs.length > 0 ? { externalIPs: [...ctx.calls.serviceExternalIPs] } : {}),
        ports: media.map((p) => ({ ...p, targetPort: p.port, ...(nodePort ? { nodePort: p.port } : {}) })),
      },
    },
  ];
}

export function buildLiveKitDeployment(ctx: BuildContext): KubeObject {
  const sfu = sfuOf(ctx);
  const labels = channelLabels(ctx.channel.name, COMPONENTS.livekit);
  const template: PodTemplate = {
    metadata: { labels, annotations: { [ANNOTATION_CONFIG_HASH]: configHash(liveKitConfigData(ctx)) } },
    spec: {
      serviceAccountName: COMPONENTS.livekit,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(LIVEKIT_UID),
      containers: [
        {
          name: 'livekit',
          image: ctx.images.livekit,
          command: liveKitStartCommand({
            templatePath: `${TEMPLATE_DIR}/${CONF_FILE}`,
            turnSecretPath: `${TURN_SECRET_DIR}/${SECRET_KEYS.turnSharedSecret}`,
            runtimeConfigPath: `${RUNTIME_DIR}/${CONF_FILE}`,
            binary: LIVEKIT_BINARY,
          }),
          ports: [
            { name: 'http', containerPort: PORTS.livekitHttp, protocol: 'TCP' },
            { name: 'rtc-tcp', containerPort: sfu.tcpPort, protocol: 'TCP' },
            { name: 'rtc-udp', containerPort: sfu.udpPort, protocol: 'UDP' },
          ],
          volumeMounts: [
            { name: 'config', mountPath: TEMPLATE_DIR, readOnly: true },
            { name: 'keys', mountPath: KEYS_DIR, readOnly: true },
            { name: 'turn-secret', mountPath: TURN_SECRET_DIR, readOnly: true },
            { name: 'runtime', mountPath: RUNTIME_DIR },
            { name: 'tmp', mountPath: '/tmp' },
          ],
          resources: LIVEKIT_DEFAULT_RESOURCES,
          securityContext: restrictedContainerSecurityContext(),
          readinessProbe: { httpGet: { path: '/', port: PORTS.livekitHttp }, periodSeconds: 10 },
          livenessProbe: { httpGet: { path: '/', port: PORTS.livekitHttp }, periodSeconds: 30, failureThreshold: 4 },
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: LIVEKIT_CONFIG_MAP, defaultMode: 0o444 } },
        // LiveKit refuses a key_file that others can read.
        {
          name: 'keys',
          secret: {
            secretName: SECRET_NAMES.livekit,
            items: [{ key: LIVEKIT_SECRET_KEYS.keyFile, path: LIVEKIT_SECRET_KEYS.keyFile }],
            defaultMode: 0o440,
          },
        },
        {
          name: 'turn-secret',
          secret: {
            secretName: SECRET_NAMES.turn,
            items: [{ key: SECRET_KEYS.turnSharedSecret, path: SECRET_KEYS.turnSharedSecret }],
            defaultMode: 0o440,
          },
        },
        // The assembled config holds the TURN secret: memory only.
        { name: 'runtime', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
        { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
      ],
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(ctx, 'livekit', COMPONENTS.livekit),
    spec: { replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: labels }, template },
  };
}
