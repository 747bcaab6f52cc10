import { createHash } from 'node:crypto';
import { BlockList, isIPv6 } from 'node:net';
import { LIMITS } from '../../api/v1alpha1/incidentchannel.ts';
import type { ChannelState } from './channel.ts';
import type {
  BuildContext,
  ChannelImages,
  ClusterNetwork,
  IngressSettings,
  SecretsMode,
  SfuSettings,
} from './desired/context.ts';
import { PORTS, RTC_PATHS } from './desired/ports.ts';
import { resolveResources } from './desired/resources.ts';
import { namespaceName } from './names.ts';

export type { BuildContext };

/** Used for every image the spec does not override. Tags, not digests: `imagesWithoutDigest` reports them. */
export const DEFAULT_IMAGES: Readonly<Omit<ChannelImages, 'recorder'>> = {
  synapse: 'docker.io/matrixdotorg/synapse:v1.163.2',
  element: 'docker.io/vectorim/element-web:v1.11.100',
  coturn: 'docker.io/coturn/coturn:4.6.1',
  postgres: 'docker.io/library/postgres:16',
  livekit: 'docker.io/livekit/livekit-server:v1.13.11',
  operator: 'ghcr.io/warroom-dev/warroom:0.1.0',
};

/** Without a `matrixHost` the homeserver is not public, so its name only has to be unique and never resolve. */
export const SERVER_NAME_SUFFIX = 'warroom.invalid';

/**
 * Relay ports per channel when the spec names none. Each is a cluster-wide NodePort, and the NodePort range has 2 768:
 * 10 per channel (5 calls through coturn at once; MatrixRTC media goes through the SFU) fits 276 live war rooms,
 * where 20 stopped at 138. LIMITS.relayPortsMax allows a spec to ask for more.
 */
export const DEFAULT_RELAY_PORT_COUNT = 10;

/** The whole NodePort range: where relay blocks are allocated unless the operator is given `--relay-ports`. */
export const NODE_PORT_RANGE: Readonly<{ min: number; max: number }> = {
  min: LIMITS.nodePortMin,
  max: LIMITS.nodePortMax,
};

const blockCount = (range: { min: number; max: number }) =>
  Math.floor((range.max - range.min + 1) / DEFAULT_RELAY_PORT_COUNT);
const blockRange = (range: { min: number; max: number }, block: number) => {
  const min = range.min + block * DEFAULT_RELAY_PORT_COUNT;
  return { min, max: min + DEFAULT_RELAY_PORT_COUNT - 1 };
};

/** The cluster's NodePort range has no free relay block left: a capacity limit a human must act on. */
export class RelayPortsExhaustedError extends Error {}

/**
 * A NodePort is cluster-wide, so two channels can never share relay ports. A channel without a spec range gets its
 * own block of the NodePort range: its uid picks where to start looking (stable), and blocks that overlap any range
 * another live channel holds are skipped. The choice is recorded in status, so it never moves afterwards.
 */
export function allocateRelayPorts(
  channelUid: string,
  taken: readonly { min: number; max: number }[] = [],
  /** The part of the NodePort range blocks are allocated from (`--relay-ports`). */
  range: { min: number; max: number } = NODE_PORT_RANGE,
): { min: number; max: number } {
  const blocks = blockCount(range);
  const start = createHash('sha256').update(channelUid).digest().readUInt32BE(0) % Math.max(blocks, 1);
  for (let i = 0; i < blocks; i++) {
    const candidate = blockRange(range, (start + i) % blocks);
    if (!taken.some((t) => t.min <= candidate.max && candidate.min <= t.max)) return candidate;
  }
  throw new RelayPortsExhaustedError(
    `every relay port block of ${range.min}-${range.max} is in use (${blocks} blocks of ${DEFAULT_RELAY_PORT_COUNT}, ` +
      'one per live channel with calls on): close a war room, set spec.calls.turn.relayPorts, widen the ' +
      "operator's --relay-ports, or use spec.calls.turn.serviceType LoadBalancer",
  );
}

/** The block a channel starts probing from; without contention this is its range. */
export const defaultRelayPorts = (channelUid: string, range?: { min: number; max: number }) =>
  allocateRelayPorts(channelUid, [], range);

/** Operator-wide settings that shape every war room (from flags/env, see src/config.ts). */
export interface OperatorSettings {
  namespacePrefix: string;
  network: ClusterNetwork;
  /** Default images (any unset one falls back to DEFAULT_IMAGES); the recorder defaults to the operator image. */
  images?: Partial<Omit<ChannelImages, 'recorder'>>;
  /** Defaults to `sealed`: the operator then never holds plaintext after sealing. */
  secretsMode?: SecretsMode;
  /**
   * Where relay blocks are allocated for channels whose spec names none (default: the whole NodePort range). Ports a
   * spec pins are best kept outside it: the operator cannot hold ports for a channel that does not exist yet.
   */
  relayPortRange?: { min: number; max: number };
}

/**
 * An address a Service may carry in `externalIPs` (the apiserver's own rule: not unspecified, loopback, link-local or
 * link-local multicast) and so one coturn may let peers reach.
 */
export function isRoutableExternalIp(ip: string): boolean {
  return !SPECIAL_ADDRESSES.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
}
const SPECIAL_ADDRESSES = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 32],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['224.0.0.0', 24],
] as const) {
  SPECIAL_ADDRESSES.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fe80::', 10],
  ['ff02::', 16],
] as const) {
  SPECIAL_ADDRESSES.addSubnet(net, prefix, 'ipv6');
}

/** Resolves one channel's spec against the operator settings into what the pure builders read. */
export function buildContext(
  channel: ChannelState,
  settings: OperatorSettings,
  /** The relay block allocated for this channel when its spec names none (see allocateRelayPorts). */
  allocatedRelayPorts?: { min: number; max: number },
): BuildContext {
  const spec = channel.spec;
  const namespace = namespaceName(spec.caseId, channel.uid, settings.namespacePrefix);
  const turn = spec.calls?.turn;
  const relay = turn?.relayPorts ?? allocatedRelayPorts ?? defaultRelayPorts(channel.uid, settings.relayPortRange);
  const ingress = resolveIngress(spec.ingress);
  const operatorImages = { ...DEFAULT_IMAGES, ...definedValues(settings.images) };
  const tlsScheme = ingress?.tls ? 'https' : 'http';

  return {
    channel: { name: channel.name, uid: channel.uid },
    namespace,
    ...(spec.title !== undefined ? { title: spec.title } : {}),
    caseId: spec.caseId,
    serverName: ingress?.matrixHost ?? `${namespace}.${SERVER_NAME_SUFFIX}`,
    // Without an Ingress the war room is reached through `kubectl port-forward` of both Services to the same ports
    // on localhost, which browsers also treat as a secure context (Element's crypto needs one).
    publicBaseUrl: ingress ? `${tlsScheme}://${ingress.matrixHost}/` : `http://localhost:${PORTS.synapseClient}/`,
    elementUrl: ingress ? `${tlsScheme}://${ingress.host}` : `http://localhost:${PORTS.element}`,
    participants: spec.participants.map((p) => ({ handle: p.handle, role: p.role ?? 'responder' })),
    access: { users: [...(spec.access?.users ?? [])], groups: [...(spec.access?.groups ?? [])] },
    ...(ingress ? { ingress } : {}),
    database: spec.database ?? 'sqlite',
    storage: {
      ...(spec.storage?.className !== undefined ? { className: spec.storage.className } : {}),
      size: spec.storage?.size ?? '5Gi',
    },
    calls: {
      enabled: spec.calls?.enabled ?? true,
      // With a NodePort Service even the listening port is a cluster-wide NodePort: a random one could land in another
      // channel's range, so TURN listens on the first port of this channel's own range and relays on the rest.
      ...((turn?.serviceType ?? 'NodePort') === 'NodePort'
        ? { listenNodePort: relay.min, relayPortMin: relay.min + 1, relayPortMax: relay.max }
        : { relayPortMin: relay.min, relayPortMax: relay.max }),
      serviceType: turn?.serviceType ?? 'NodePort',
      externalIPs: [...(turn?.externalIPs ?? [])],
      serviceExternalIPs: (turn?.externalIPs ?? []).filter(isRoutableExternalIp),
      ...(turn?.host !== undefined ? { host: turn.host } : {}),
      ...(spec.calls?.sfu ? { sfu: resolveSfu(spec.calls.sfu, turn?.externalIPs ?? [], ingress, tlsScheme) } : {}),
    },
    recording: { enabled: spec.recording?.enabled ?? true },
    resources: resolveResources(spec.resources),
    images: {
      synapse: spec.images?.synapse ?? operatorImages.synapse,
      element: spec.images?.element ?? operatorImages.element,
      coturn: spec.images?.coturn ?? operatorImages.coturn,
      postgres: spec.images?.postgres ?? operatorImages.postgres,
      recorder: spec.images?.recorder ?? operatorImages.operator,
      livekit: operatorImages.livekit,
      operator: operatorImages.operator,
    },
    secretsMode: settings.secretsMode ?? 'sealed',
    network: settings.network,
  };
}

/**
 * Where clients reach the SFU and its authoriser: on the homeserver's public host under RTC_PATHS, else (no Ingress)
 * through port-forwards on localhost like the rest of the war room.
 */
function resolveSfu(
  sfu: { tcpPort?: number; udpPort?: number; nodeIP?: string },
  externalIPs: readonly string[],
  ingress: IngressSettings | undefined,
  scheme: 'http' | 'https',
): SfuSettings {
  const nodeIp = sfu.nodeIP ?? externalIPs.find((ip) => !ip.includes(':'));
  return {
    tcpPort: sfu.tcpPort ?? 7881,
    udpPort: sfu.udpPort ?? 7882,
    ...(nodeIp !== undefined ? { nodeIp } : {}),
    authoriserUrl: ingress
      ? `${scheme}://${ingress.matrixHost}${RTC_PATHS.authoriser}`
      : `http://localhost:${PORTS.rtcAuthoriser}`,
    sfuUrl: ingress
      ? `${scheme === 'https' ? 'wss' : 'ws'}://${ingress.matrixHost}${RTC_PATHS.sfu}`
      : `ws://localhost:${PORTS.livekitHttp}`,
  };
}

/**
 * The images this channel actually runs that are referenced by tag only. A tag can be re-pointed by whoever controls
 * the registry, the kind of compromise a war room exists to sidestep; the reconciler surfaces these as a warning.
 */
export function imagesWithoutDigest(ctx: BuildContext): string[] {
  const used = [ctx.images.synapse, ctx.images.element, ctx.images.operator];
  if (ctx.calls.enabled) used.push(ctx.images.coturn);
  if (ctx.calls.enabled && ctx.calls.sfu) used.push(ctx.images.livekit);
  if (ctx.database === 'postgres') used.push(ctx.images.postgres);
  if (ctx.recording.enabled) used.push(ctx.images.recorder);
  return [...new Set(used.filter((image) => !/@sha256:[a-f0-9]{64}$/.test(image)))].sort();
}

function resolveIngress(ingress: ChannelState['spec']['ingress']): IngressSettings | undefined {
  if (!ingress) return undefined;
  const tls = ingress.tls
    ? {
        ...(ingress.tls.secretName !== undefined ? { secretName: ingress.tls.secretName } : {}),
        ...(ingress.tls.clusterIssuer !== undefined ? { clusterIssuer: ingress.tls.clusterIssuer } : {}),
      }
    : undefined;
  return {
    ...(ingress.className !== undefined ? { className: ingress.className } : {}),
    host: ingress.host,
    matrixHost: ingress.matrixHost,
    ...(tls ? { tls } : {}),
  };
}

function definedValues<T extends object>(partial: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(partial ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
