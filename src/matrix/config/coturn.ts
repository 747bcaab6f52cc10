import { cidrToRange, formatRange } from './ip-range.ts';

/**
 * Where the TURN shared secret lives, and why it is not in the rendered file.
 *
 * coturn reads `static-auth-secret` only from its command line or its config file, and its config parser
 * (checked in 4.6.1, the Debian bookworm build we test against, and in the 4.17 option list) has no include
 * directive. The command line is out (visible in /proc, and the official image's entrypoint `eval`s every
 * argument), and a ConfigMap must never hold a secret. So:
 *   - `renderTurnserverConf` renders everything EXCEPT the secret: it is safe for a ConfigMap;
 *   - the secret stays in the same Secret key Synapse reads (`turn_shared_secret`, raw value);
 *   - `coturnStartCommand` is the container command: at start it writes template + one
 *     `static-auth-secret=<file content>` line into a pod-private directory (an emptyDir, `medium: Memory`)
 *     and execs turnserver on that file. The secret never reaches argv, env, a ConfigMap or a log line.
 * Rendering the whole file into a Secret instead would force a re-seal of the SealedSecret on every
 * non-secret change (relay range, CIDRs), and the operator never re-seals.
 */

export interface TurnserverParams {
  realm: string;
  /** STUN/TURN port for UDP and TCP. */
  listeningPort?: number;
  /** Addresses to listen on; omitted = all interfaces. */
  listeningIps?: string[];
  /** Relay port range, inclusive. Keep it small: a Kubernetes Service must enumerate every port. */
  minPort: number;
  maxPort: number;
  /** What clients reach, `public` or `public/private` when behind NAT. Never looked up at run time. */
  externalIp?: string;
  /** Address the relay sockets bind to; omitted = coturn's choice. */
  relayIp?: string;
  /** Cluster pod, service and node CIDRs (or single addresses) to deny on top of the built-in list. */
  extraDeniedPeerCidrs?: string[];
  /** Exceptions to the deny list, e.g. the TURN server's own public address for client→TURN→TURN→client. */
  allowedPeerCidrs?: string[];
  /** Concurrent allocations per user and in total. */
  quotas?: { user: number; total: number };
  /** Must be in a writable directory (the root filesystem is read-only in the pod). */
  pidFile?: string;
  /** coturn opens an sqlite user DB even with REST auth; it must be writable too. */
  userDbPath?: string;
}

export const COTURN_DEFAULTS = {
  listeningPort: 3478,
  quotas: { user: 12, total: 1200 },
  pidFile: '/var/tmp/turnserver.pid',
  userDbPath: '/var/lib/coturn/turndb',
  /** Seconds a nonce stays valid. */
  staleNonce: 600,
} as const;

/** Largest relay range we render; each port is one Service port entry. */
export const MAX_RELAY_PORTS = 1000;

/**
 * Every range a relay must never reach from inside a cluster: "this network", RFC 1918, CGNAT, loopback,
 * link-local (which holds the 169.254.169.254 metadata endpoint), IETF/documentation/benchmark/6to4 blocks,
 * multicast, reserved and broadcast; for IPv6 the unspecified/loopback/IPv4-compatible block, IPv4-mapped and
 * NAT64 (IPv4 in disguise), discard, IETF and documentation blocks, 6to4, ULA (fd00:ec2::254 is AWS metadata),
 * link-local, site-local and multicast.
 */
export const DENIED_PEER_CIDRS: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/96',
  '::ffff:0:0/96',
  '64:ff9b::/96',
  '64:ff9b:1::/48',
  '100::/64',
  '2001::/23',
  '2001:db8::/32',
  '2002::/16',
  '3fff::/20',
  'fc00::/7',
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
];

function assertPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${name} must be a port, got ${value}`);
}

/** One `key=value` per line; a newline in a value would smuggle another directive into the file. */
function assertSingleLine(name: string, value: string): void {
  if (value === '' || /[\r\n\0]/.test(value)) throw new Error(`${name} must be a non-empty single line`);
}

/** The turnserver.conf without the shared secret (see the note at the top). */
export function renderTurnserverConf(params: TurnserverParams): string {
  const listeningPort = params.listeningPort ?? COTURN_DEFAULTS.listeningPort;
  const quotas = params.quotas ?? COTURN_DEFAULTS.quotas;
  const pidFile = params.pidFile ?? COTURN_DEFAULTS.pidFile;
  const userDbPath = params.userDbPath ?? COTURN_DEFAULTS.userDbPath;

  if (!/^[A-Za-z0-9.-]{1,253}$/.test(params.realm)) throw new Error(`realm must be a DNS-like name: ${params.realm}`);
  assertPort('listeningPort', listeningPort);
  assertPort('minPort', params.minPort);
  assertPort('maxPort', params.maxPort);
  if (params.minPort > params.maxPort) throw new Error('minPort must not exceed maxPort');
  if (params.maxPort - params.minPort + 1 > MAX_RELAY_PORTS) {
    throw new Error(`relay range too large (max ${MAX_RELAY_PORTS} ports)`);
  }
  if (listeningPort >= params.minPort && listeningPort <= params.maxPort) {
    throw new Error('listeningPort must be outside the relay range');
  }
  for (const [name, value] of Object.entries(quotas)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`quota ${name} must be a positive integer`);
  }
  for (const [name, value] of [
    ['pidFile', pidFile],
    ['userDbPath', userDbPath],
  ] as const) {
    assertSingleLine(name, value);
    if (!value.startsWith('/')) throw new Error(`${name} must be absolute`);
  }
  const singleAddress = (name: string, value: string) => {
    const range = cidrToRange(value);
    if (range.first !== range.last || value.includes('/')) throw new Error(`${name} must be one address: ${value}`);
    return value;
  };
  const listeningIps = (params.listeningIps ?? []).map((ip) => singleAddress('listeningIps', ip));
  const relayIp = params.relayIp === undefined ? undefined : singleAddress('relayIp', params.relayIp);
  let externalIp: string | undefined;
  if (params.externalIp !== undefined) {
    const [publicIp = '', privateIp, extra] = params.externalIp.split('/');
    if (extra !== undefined) throw new Error(`externalIp must be public[/private]: ${params.externalIp}`);
    singleAddress('externalIp', publicIp);
    if (privateIp !== undefined) singleAddress('externalIp', privateIp);
    externalIp = params.externalIp;
  }
  const denied = [...DENIED_PEER_CIDRS, ...(params.extraDeniedPeerCidrs ?? [])].map((c) => formatRange(cidrToRange(c)));
  const allowed = (params.allowedPeerCidrs ?? []).map((c) => formatRange(cidrToRange(c)));

  const lines = [
    '# Rendered by warroom. The shared secret is NOT here: it is appended at container start from the',
    '# mounted Secret into a pod-private copy of this file (coturn has no include directive).',
    '',
    '# TURN REST API credentials (username "<expiry>:<mxid>", password base64(HMAC-SHA1(secret, username))),',
    '# the scheme Synapse hands out from /voip/turnServer.',
    'use-auth-secret',
    `realm=${params.realm}`,
    'fingerprint',
    `stale-nonce=${COTURN_DEFAULTS.staleNonce}`,
    '',
    '# Listeners: plain UDP/TCP only (no certificate in the pod; TLS would need turns: URIs).',
    `listening-port=${listeningPort}`,
    ...listeningIps.map((ip) => `listening-ip=${ip}`),
    'no-tls',
    'no-dtls',
    ...(externalIp === undefined ? [] : [`external-ip=${externalIp}`]),
    ...(relayIp === undefined ? [] : [`relay-ip=${relayIp}`]),
    `min-port=${params.minPort}`,
    `max-port=${params.maxPort}`,
    '',
    '# Relay hardening: VoIP is UDP; never relay into private, cluster, metadata or special-purpose ranges.',
    'no-tcp-relay',
    'no-multicast-peers',
    ...denied.map((r) => `denied-peer-ip=${r}`),
    ...allowed.map((r) => `allowed-peer-ip=${r}`),
    `user-quota=${quotas.user}`,
    `total-quota=${quotas.total}`,
    '',
    '# Quiet and contained: no telnet CLI, no version banner, no NAT-behaviour discovery, logs to stdout',
    '# without "verbose" (which would log usernames, i.e. MXIDs, and peer addresses per packet).',
    'no-cli',
    'no-software-attribute',
    'no-rfc5780',
    'no-stun-backward-compatibility',
    'log-file=stdout',
    'simple-log',
    `pidfile=${pidFile}`,
    `userdb=${userDbPath}`,
    '',
  ];
  return lines.join('\n');
}

export interface CoturnStartPaths {
  /** The rendered conf (ConfigMap mount). */
  templatePath: string;
  /** The raw TURN shared secret (Secret mount), the same key Synapse's turn_shared_secret_path reads. */
  secretPath: string;
  /** Where the assembled conf goes: inside a pod-private emptyDir (medium Memory). */
  runtimeConfigPath: string;
  turnserverBinary?: string;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The container command (use it as `command`, not `args`, so the image's eval-ing entrypoint is bypassed).
 * `umask 077` keeps the assembled file owner-only; `printf` is a shell builtin, so the secret never appears
 * in any process's argv. `$(cat …)` drops the trailing newline a Secret file may carry, as Synapse's
 * `.strip()` does, so both sides compute HMACs with the same key.
 */
export function coturnStartCommand(paths: CoturnStartPaths): string[] {
  for (const [name, value] of Object.entries(paths)) {
    if (value !== undefined && (!value.startsWith('/') || /[\r\n\0]/.test(value))) {
      throw new Error(`${name} must be an absolute single-line path`);
    }
  }
  const template = shellQuote(paths.templatePath);
  const secret = shellQuote(paths.secretPath);
  const runtime = shellQuote(paths.runtimeConfigPath);
  const binary = shellQuote(paths.turnserverBinary ?? 'turnserver');
  const script = [
    'set -eu',
    'umask 077',
    `secret="$(cat ${secret})"`,
    // A newline or other odd byte would smuggle a directive into the file; the operator generates url-safe text.
    `case "$secret" in ''|*[!A-Za-z0-9._~+/=-]*) echo "TURN shared secret file is empty or has unexpected characters" >&2; exit 1;; esac`,
    `{ cat ${template}; printf '\\nstatic-auth-secret=%s\\n' "$secret"; } > ${runtime}`,
    'unset secret',
    // Not `exec`: turnserver has no SIGTERM handler, and as PID 1 it would ignore the kubelet's SIGTERM, so every pod
    // deletion waited out the whole grace period (seen on a real node). This shell forwards TERM/INT and exits with
    // turnserver's status.
    `trap 'kill -TERM "\${child:-}" 2>/dev/null || true' TERM INT`,
    `${binary} -c ${runtime} &`,
    'child=$!',
    'status=0',
    'wait "$child" || status=$?',
    'if kill -0 "$child" 2>/dev/null; then wait "$child" || status=$?; fi',
    'exit "$status"',
  ].join('\n');
  return ['/bin/sh', '-c', script];
}
