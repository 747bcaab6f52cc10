/**
 * Everything a builder may read, resolved once per reconcile. Builders are pure functions of this: no clock, no I/O,
 * no randomness, so the same context always yields byte-identical objects (and SSA writes nothing when idle).
 */
import type { ResourceRequirements } from './pod-types.ts';

export interface ChannelRef {
  name: string;
  uid: string;
}

export interface ClusterNetwork {
  /** Pod, service and node CIDRs: coturn must never relay into them. */
  podCidrs: string[];
  serviceCidrs: string[];
  nodeCidrs: string[];
  /** Where cluster DNS runs (for the DNS egress rule). */
  dnsNamespace: string;
  dnsPodLabels: Record<string, string>;
  /** Namespace labels of the ingress controller and of Prometheus (who may reach us). */
  ingressNamespaceLabels: Record<string, string>;
  monitoringNamespaceLabels: Record<string, string>;
  /** The operator's own namespace: it reaches the recorder to seal and export the transcript. */
  operatorNamespace: string;
}

export interface CallsSettings {
  enabled: boolean;
  relayPortMin: number;
  relayPortMax: number;
  /** NodePort Services only: the node port clients reach TURN's listening port (3478 in the pod) on. */
  listenNodePort?: number;
  serviceType: 'NodePort' | 'LoadBalancer';
  /** Public addresses coturn advertises (its external-ip) and the TURN URIs name when no host is set. */
  externalIPs: string[];
  /**
   * The subset the Services accept traffic on and coturn lets peers reach: the apiserver refuses a loopback,
   * link-local, multicast or unspecified address in a Service, and a TURN server must never relay to its own loopback.
   * kind's 127.0.0.1 is advertised only (the laptop reaches it through kind's port mapping).
   */
  serviceExternalIPs: string[];
  /** Host name put in the TURN URIs; when unset the first external IP is used. */
  host?: string;
  /** MatrixRTC through the war room's LiveKit SFU and authoriser; absent = legacy calls only. */
  sfu?: SfuSettings;
}

export interface SfuSettings {
  tcpPort: number;
  udpPort: number;
  /** What the SFU advertises for media; absent = its pod address (reachable in-cluster and on a single node only). */
  nodeIp?: string;
  /** How clients reach the authoriser (`livekit_service_url`) and the SFU's signalling (ws/wss). */
  authoriserUrl: string;
  sfuUrl: string;
}

export type ParticipantRole = 'lead' | 'comms' | 'scribe' | 'responder' | 'observer';

export interface ParticipantRef {
  handle: string;
  role: ParticipantRole;
}

export interface AccessSubjects {
  users: string[];
  groups: string[];
}

export interface IngressSettings {
  className?: string;
  /** Element web. */
  host: string;
  /** The homeserver's client API; also the Matrix server name. */
  matrixHost: string;
  tls?: { secretName?: string; clusterIssuer?: string };
}

export interface StorageSettings {
  className?: string;
  size: string;
}

/** Resolved images: the spec's overrides, else the operator's defaults. */
export interface ChannelImages {
  synapse: string;
  element: string;
  coturn: string;
  postgres: string;
  recorder: string;
  /** livekit-server, built here from its module (hack/images). */
  livekit: string;
  /** The operator's own image: the provisioner Job runs it with another entrypoint. */
  operator: string;
}

/** Every container the channel may run gets requests and limits, defaults filled in. */
export interface ChannelResources {
  synapse: ResourceRequirements;
  element: ResourceRequirements;
  coturn: ResourceRequirements;
  recorder: ResourceRequirements;
  postgres: ResourceRequirements;
  provisioner: ResourceRequirements;
}

/** `sealed`: SealedSecrets for the sealed-secrets controller; `plain`: Secrets written directly. */
export type SecretsMode = 'sealed' | 'plain';

export interface BuildContext {
  channel: ChannelRef;
  namespace: string;
  title?: string;
  caseId: string;
  /** The MXID domain (`@handle:<serverName>`). */
  serverName: string;
  /** How Matrix clients reach the homeserver (Synapse's public_baseurl, Element's base_url), trailing slash. */
  publicBaseUrl: string;
  /** Where browsers open Element (without an Ingress: a port-forward on localhost). */
  elementUrl: string;
  participants: ParticipantRef[];
  access: AccessSubjects;
  ingress?: IngressSettings;
  database: 'sqlite' | 'postgres';
  storage: StorageSettings;
  calls: CallsSettings;
  recording: { enabled: boolean };
  resources: ChannelResources;
  images: ChannelImages;
  secretsMode: SecretsMode;
  network: ClusterNetwork;
}
