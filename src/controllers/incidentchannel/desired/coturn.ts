import { SECRET_KEYS } from '../../../crypto/secret-material.ts';
import type { KubeObject } from '../../../kube/objects.ts';
import { coturnStartCommand, renderTurnserverConf, type TurnserverParams } from '../../../matrix/config/coturn.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';
import { ANNOTATION_CONFIG_HASH, childMeta, configHash } from './object-meta.ts';
import type { PodTemplate } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';

/**
 * coturn for 1:1 calls: one replica (TURN allocations live in one process), reachable on 3478 and on every relay
 * port, each mapped to the same port number because coturn advertises `external-ip:<relay port>` to clients.
 * The ConfigMap holds the conf WITHOUT the shared secret; the container command appends it from the Secret into a
 * memory-backed file at start (see src/matrix/config/coturn.ts for why coturn leaves no better way).
 */

/** `nobody` in the official image, which it already runs as. */
export const COTURN_UID = 65534;
export const COTURN_CONFIG_MAP = 'coturn-config';
const CONF_FILE = 'turnserver.conf';
const TEMPLATE_DIR = '/etc/coturn/template';
const SECRET_DIR = '/run/secrets/turn';
const RUNTIME_DIR = '/run/coturn';

export function turnserverParams(ctx: BuildContext): TurnserverParams {
  const network = ctx.network;
  return {
    realm: ctx.serverName,
    minPort: ctx.calls.relayPortMin,
    maxPort: ctx.calls.relayPortMax,
    ...(ctx.calls.externalIPs[0] !== undefined ? { externalIp: ctx.calls.externalIPs[0] } : {}),
    extraDeniedPeerCidrs: [...network.podCidrs, ...network.serviceCidrs, ...network.nodeCidrs],
    // Its own public addresses stay reachable so that client → TURN → TURN → client calls work (Synapse's coturn doc).
    allowedPeerCidrs: [...ctx.calls.serviceExternalIPs],
  };
}

function coturnConfigData(ctx: BuildContext): Record<string, string> {
  return { [CONF_FILE]: renderTurnserverConf(turnserverParams(ctx)) };
}

export function buildCoturnConfigMap(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(ctx, COTURN_CONFIG_MAP, COMPONENTS.coturn),
    data: coturnConfigData(ctx),
  };
}

export function buildCoturnService(ctx: BuildContext): KubeObject {
  const nodePort = ctx.calls.serviceType === 'NodePort';
  const relayPorts = [];
  for (let port = ctx.calls.relayPortMin; port <= ctx.calls.relayPortMax; port++) {
    relayPorts.push({
      name: `relay-${port}`,
      port,
      targetPort: port,
      protocol: 'UDP',
      ...(nodePort ? { nodePort: port } : {}),
    });
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(ctx, 'coturn', COMPONENTS.coturn),
    spec: {
      type: ctx.calls.serviceType,
      // A LoadBalancer needs no node ports: random ones could land in another channel's relay block.
      ...(ctx.calls.serviceType === 'LoadBalancer' ? { allocateLoadBalancerNodePorts: false } : {}),
      selector: channelLabels(ctx.channel.name, COMPONENTS.coturn),
      // TURN permissions are per peer address: SNAT to a node address would make coturn drop the peers' media.
      externalTrafficPolicy: 'Local',
      ...(ctx.calls.serviceExternalIPs.length > 0 ? { externalIPs: [...ctx.calls.serviceExternalIPs] } : {}),
      ports: [
        ...(['UDP', 'TCP'] as const).map((protocol) => ({
          name: `turn-${protocol.toLowerCase()}`,
          port: PORTS.turn,
          targetPort: PORTS.turn,
          protocol,
          ...(nodePort && ctx.calls.listenNodePort ? { nodePort: ctx.calls.listenNodePort } : {}),
        })),
        ...relayPorts,
      ],
    },
  };
}

export function buildCoturnDeployment(ctx: BuildContext): KubeObject {
  const labels = channelLabels(ctx.channel.name, COMPONENTS.coturn);
  const listening = { tcpSocket: { port: PORTS.turn } };
  const template: PodTemplate = {
    metadata: { labels, annotations: { [ANNOTATION_CONFIG_HASH]: configHash(coturnConfigData(ctx)) } },
    spec: {
      serviceAccountName: COMPONENTS.coturn,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(COTURN_UID),
      containers: [
        {
          name: 'coturn',
          image: ctx.images.coturn,
          // `command`, not args: the image's entrypoint evals its arguments and would look up the public IP.
          command: coturnStartCommand({
            templatePath: `${TEMPLATE_DIR}/${CONF_FILE}`,
            secretPath: `${SECRET_DIR}/${SECRET_KEYS.turnSharedSecret}`,
            runtimeConfigPath: `${RUNTIME_DIR}/${CONF_FILE}`,
          }),
          ports: [
            { name: 'turn-udp', containerPort: PORTS.turn, protocol: 'UDP' },
            { name: 'turn-tcp', containerPort: PORTS.turn, protocol: 'TCP' },
          ],
          volumeMounts: [
            { name: 'config', mountPath: TEMPLATE_DIR, readOnly: true },
            { name: 'secret', mountPath: SECRET_DIR, readOnly: true },
            { name: 'runtime', mountPath: RUNTIME_DIR },
            { name: 'var-tmp', mountPath: '/var/tmp' },
            { name: 'state', mountPath: '/var/lib/coturn' },
          ],
          resources: ctx.resources.coturn,
          // The image's turnserver carries a NET_BIND_SERVICE file capability: exec fails unless it is bounded.
          securityContext: restrictedContainerSecurityContext({ addNetBind: true }),
          readinessProbe: { ...listening, periodSeconds: 10 },
          livenessProbe: { ...listening, periodSeconds: 30, failureThreshold: 4 },
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: COTURN_CONFIG_MAP, defaultMode: 0o444 } },
        {
          name: 'secret',
          secret: {
            secretName: SECRET_NAMES.turn,
            items: [{ key: SECRET_KEYS.turnSharedSecret, path: SECRET_KEYS.turnSharedSecret }],
            defaultMode: 0o440,
          },
        },
        // The assembled conf holds the secret: memory only, never on a node's disk.
        { name: 'runtime', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
        { name: 'var-tmp', emptyDir: { sizeLimit: '16Mi' } },
        { name: 'state', emptyDir: { sizeLimit: '64Mi' } },
      ],
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(ctx, 'coturn', COMPONENTS.coturn),
    spec: {
      replicas: 1,
      // Never two TURN servers behind one Service: an allocation lives in one process, and the other would drop it.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: labels },
      template,
    },
  };
}
