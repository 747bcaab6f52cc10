import { posix } from 'node:path';
import { stringify } from 'yaml';

/**
 * livekit-server's config for one war room's SFU, without any secret: the API key pair is read from `key_file` (a
 * mounted Secret file; LiveKit refuses one readable by others), and the TURN shared secret is spliced in at start by
 * `liveKitStartCommand`, from its own Secret file, into a private runtime copy. Rooms exist only when the authoriser
 * creates them (`room.auto_create: false`); no STUN discovery (the node IP is configured); clients get the war room's
 * coturn as their only ICE server, with time-limited credentials (without any, LiveKit would hand them public STUN).
 */
export interface LiveKitConfigParams {
  /** HTTP/WebSocket signalling (clients through the Ingress, the authoriser for CreateRoom). */
  port: number;
  /** ICE over TCP, for clients whose UDP is blocked. */
  rtcTcpPort: number;
  /** One muxed UDP port for all media. */
  rtcUdpPort: number;
  /** The address clients send media to (the node's IP: no STUN discovery); absent = the pod's own address. */
  nodeIp?: string;
  /** The TURN server handed to clients (the war room's coturn), with REST-API credentials minted per participant. */
  turn?: { host: string; port: number; protocol: 'udp' | 'tcp' | 'tls'; ttlSeconds: number };
  keyFile: string;
  bindAddresses?: string[];
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** Replaced by the TURN shared secret at start; never a valid secret itself. */
export const TURN_SECRET_PLACEHOLDER = '__WARROOM_TURN_SECRET__';

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

function assertPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${name} must be a port, got ${value}`);
}

export function buildLiveKitConfig(params: LiveKitConfigParams): Record<string, unknown> {
  assertPort('port', params.port);
  assertPort('rtcTcpPort', params.rtcTcpPort);
  assertPort('rtcUdpPort', params.rtcUdpPort);
  if (new Set([params.port, params.rtcTcpPort]).size !== 2) throw new Error('port and rtcTcpPort must differ');
  if (params.nodeIp !== undefined && !IPV4.test(params.nodeIp))
    throw new Error(`nodeIp must be an IPv4 address, got ${params.nodeIp}`);
  if (!posix.isAbsolute(params.keyFile)) throw new Error('keyFile must be an absolute path');
  if (params.turn) {
    assertPort('turn.port', params.turn.port);
    if (!/^[a-z0-9.-]+$/i.test(params.turn.host)) throw new Error(`turn.host is not a host name: ${params.turn.host}`);
  }
  return {
    port: params.port,
    bind_addresses: params.bindAddresses ?? ['0.0.0.0'],
    key_file: params.keyFile,
    log_level: params.logLevel ?? 'info',
    room: { auto_create: false },
    rtc: {
      tcp_port: params.rtcTcpPort,
      udp_port: params.rtcUdpPort,
      use_external_ip: false,
      ...(params.nodeIp !== undefined ? { node_ip: params.nodeIp } : {}),
      ...(params.turn
        ? {
            turn_servers: [
              {
                host: params.turn.host,
                port: params.turn.port,
                protocol: params.turn.protocol,
                ttl: params.turn.ttlSeconds,
                secret: TURN_SECRET_PLACEHOLDER,
              },
            ],
          }
        : {}),
    },
    // The embedded TURN stays off: coturn is the war room's one relay (legacy calls use it too).
    turn: { enabled: false },
    // No telemetry, no webhooks: nothing leaves the namespace.
    webhook: { urls: [] },
  };
}

export function renderLiveKitConfig(params: LiveKitConfigParams): string {
  return `# Rendered by warroom: no secrets here (key_file and the TURN secret are mounted Secret files).\n${stringify(
    buildLiveKitConfig(params),
    { lineWidth: 0 },
  )}`;
}

const shellQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * `/bin/sh -c` script: splices the TURN secret (checked to be url-safe text, so it cannot smuggle YAML) into a
 * private copy of the rendered config, then execs the server (Go, it handles SIGTERM itself). Without a TURN server
 * in the config, the template is used as is.
 */
export function liveKitStartCommand(paths: {
  templatePath: string;
  turnSecretPath: string;
  runtimeConfigPath: string;
  binary?: string;
}): string[] {
  for (const [name, value] of Object.entries(paths)) {
    if (value !== undefined && (!value.startsWith('/') || /[\r\n\0]/.test(value))) {
      throw new Error(`${name} must be an absolute single-line path`);
    }
  }
  const template = shellQuote(paths.templatePath);
  const runtime = shellQuote(paths.runtimeConfigPath);
  const script = [
    'set -eu',
    'umask 077',
    `tpl="$(cat ${template})"`,
    `case "$tpl" in *${TURN_SECRET_PLACEHOLDER}*)`,
    `  secret="$(cat ${shellQuote(paths.turnSecretPath)})"`,
    `  case "$secret" in ''|*[!A-Za-z0-9._~+/=-]*) echo "TURN shared secret file is empty or has unexpected characters" >&2; exit 1;; esac`,
    `  tpl="\${tpl%%${TURN_SECRET_PLACEHOLDER}*}\${secret}\${tpl#*${TURN_SECRET_PLACEHOLDER}}"`,
    '  unset secret;;',
    'esac',
    `printf '%s\\n' "$tpl" > ${runtime}`,
    'unset tpl',
    `exec ${shellQuote(paths.binary ?? 'livekit-server')} --config ${runtime}`,
  ].join('\n');
  return ['/bin/sh', '-c', script];
}
