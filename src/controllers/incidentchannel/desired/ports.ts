/** Ports and component names shared by the workload builders and the NetworkPolicies that must match them. */
export const COMPONENTS = {
  synapse: 'synapse',
  element: 'element',
  coturn: 'coturn',
  provisioner: 'provisioner',
  postgres: 'postgres',
  livekit: 'livekit',
  rtcAuthoriser: 'rtc-authoriser',
} as const;
export type Component = (typeof COMPONENTS)[keyof typeof COMPONENTS];

export const PORTS = {
  synapseClient: 8008,
  synapseMetrics: 9000,
  /** The recorder sidecar's read-only HTTP port: /metrics and /status, for Prometheus and the operator. */
  recorder: 9101,
  /**
   * The recorder's control port (seal, export, notices): a port of its own so that the NetworkPolicy can open it to
   * the operator alone, while Prometheus only ever reaches the read-only one.
   */
  recorderControl: 9102,
  /**
   * The recorder's membership port ("is this user joined to this room"): opened to the call authoriser alone, so the
   * authoriser holds no Matrix credential (src/recorder/membership-server.ts).
   */
  recorderMembership: 9103,
  element: 8080,
  turn: 3478,
  postgres: 5432,
  /** LiveKit's HTTP: WebSocket signalling for clients, RoomService for the authoriser. */
  livekitHttp: 7880,
  rtcAuthoriser: 8090,
  /** Synapse's listener serving only the `openid` resource, for the authoriser alone. */
  synapseOpenId: 8009,
} as const;

/** Path prefixes on the homeserver's public host, as self-hosted Element Call deployments use them. */
export const RTC_PATHS = { authoriser: '/livekit/jwt', sfu: '/livekit/sfu' } as const;
