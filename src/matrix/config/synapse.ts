import { posix } from 'node:path';
import { stringify } from 'yaml';

/**
 * Synapse homeserver.yaml and log.yaml for one incident: single process, no federation at all, closed
 * registration, E2EE everywhere, minimal personal data, and no secret in the rendered text (every secret is a
 * `*_path` pointing into the mounted Secret, so the output can live in a ConfigMap).
 * Key choices and their sources: shared notes matrix.md §1.
 */

export type SynapseDatabase =
  | { kind: 'sqlite' }
  | {
      kind: 'postgres';
      host: string;
      port: number;
      user: string;
      database: string;
      /**
       * A libpq password file (`host:port:database:user:password`, mode 0600), passed as libpq's `passfile`.
       * Synapse has no `password_path` for the database, and libpq is the only reader that keeps the
       * password out of homeserver.yaml. `renderPgpassLine` renders its content.
       */
      passfilePath: string;
    };

export interface SynapsePaths {
  /** homeserver.yaml and log.yaml (ConfigMap mount). */
  configDir: string;
  /** One file per secret (Secret mount, read-only). */
  secretsDir: string;
  /** sqlite DB, media store, pid file (PVC or emptyDir). */
  dataDir: string;
}

export interface SynapsePorts {
  client: number;
  metrics: number;
}

export interface SynapseLimits {
  /** Synapse size string, e.g. `20M`. */
  maxUploadSize: string;
  /** Synapse duration strings, e.g. `1h`, `30d`. */
  turnUserLifetime: string;
  localMediaLifetime: string;
  userIpsMaxAge: string;
  redactionRetentionPeriod: string;
}

export interface SynapseConfigParams {
  /** The MXID domain; never needs to resolve, since nothing federates. */
  serverName: string;
  /** How clients reach the client API, e.g. `https://matrix.inc-42.example.org/`. */
  publicBaseUrl: string;
  /** e.g. `turn:turn.inc-42.example.org:3478?transport=udp`; empty = no VoIP relay offered. */
  turnUris: string[];
  database: SynapseDatabase;
  /**
   * Server admins allowed to create room aliases (`#control`, `#ops`). Synapse applies
   * alias_creation_rules to admins too, so the provisioning bot must be named here; nobody else may.
   */
  aliasCreators: string[];
  paths?: Partial<SynapsePaths>;
  ports?: Partial<SynapsePorts>;
  limits?: Partial<SynapseLimits>;
  /** Listener bind addresses; the pod listens on all, tests on 127.0.0.1. */
  bindAddresses?: string[];
  /** MatrixRTC (Element Call on the war room's LiveKit SFU); absent = no MatrixRTC focus announced. */
  matrixRtc?: SynapseMatrixRtc;
}

export interface SynapseMatrixRtc {
  /** The MSC4195 authoriser as clients reach it (`livekit_service_url`). */
  authoriserUrl: string;
  /** A listener serving only the `openid` resource, for the authoriser to validate OpenID tokens. */
  openIdPort: number;
}

export const SYNAPSE_DEFAULT_PATHS: Readonly<SynapsePaths> = {
  configDir: '/config',
  secretsDir: '/secrets',
  dataDir: '/data',
};

export const SYNAPSE_DEFAULT_PORTS: Readonly<SynapsePorts> = { client: 8008, metrics: 9000 };

export const SYNAPSE_DEFAULT_LIMITS: Readonly<SynapseLimits> = {
  maxUploadSize: '20M',
  turnUserLifetime: '1h',
  localMediaLifetime: '30d',
  userIpsMaxAge: '1d',
  redactionRetentionPeriod: '1d',
};

/** File names inside the config dir: the ConfigMap's keys. */
export const SYNAPSE_CONFIG_FILES = {
  homeserver: 'homeserver.yaml',
  log: 'log.yaml',
} as const;

/** File names inside the secrets dir: the Secret's keys. */
export const SYNAPSE_SECRET_FILES = {
  registrationSharedSecret: 'registration_shared_secret',
  macaroonSecretKey: 'macaroon_secret_key',
  formSecret: 'form_secret',
  signingKey: 'signing.key',
  turnSharedSecret: 'turn_shared_secret',
} as const;

/**
 * Command-line flags the container must pass: `--no-secrets-in-config` makes Synapse refuse to start if an
 * inline secret ever sneaks into the config, so "secrets only via *_path" is enforced by Synapse itself.
 */
export function synapseCommandArgs(paths: Partial<SynapsePaths> = {}): string[] {
  const configDir = paths.configDir ?? SYNAPSE_DEFAULT_PATHS.configDir;
  return [
    '-m',
    'synapse.app.homeserver',
    '--config-path',
    posix.join(configDir, SYNAPSE_CONFIG_FILES.homeserver),
    '--no-secrets-in-config',
  ];
}

const MATRIX_SERVER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const MXID = /^@[a-z0-9._=\-/+]+:[a-z0-9.-]+$/;
const DURATION = /^\d+(?:ms|s|m|h|d|w|y)?$/;
const SIZE = /^\d+[KMG]?$/;

function assertPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${name} must be a port, got ${value}`);
}

function assertAbsolute(name: string, value: string): void {
  if (!posix.isAbsolute(value) || /[\r\n\0]/.test(value)) throw new Error(`${name} must be an absolute path`);
}

function resolve(params: SynapseConfigParams) {
  const paths = { ...SYNAPSE_DEFAULT_PATHS, ...params.paths };
  const ports = { ...SYNAPSE_DEFAULT_PORTS, ...params.ports };
  const limits = { ...SYNAPSE_DEFAULT_LIMITS, ...params.limits };
  const bindAddresses = params.bindAddresses ?? ['0.0.0.0'];

  if (!MATRIX_SERVER_NAME.test(params.serverName)) {
    throw new Error(`serverName must be a lower-case DNS name without port: ${params.serverName}`);
  }
  const url = new URL(params.publicBaseUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('publicBaseUrl must be http(s)');
  for (const uri of params.turnUris) {
    if (!/^turns?:[^\s]+$/.test(uri)) throw new Error(`not a TURN URI: ${uri}`);
  }
  if (params.aliasCreators.length === 0) throw new Error('aliasCreators must name the provisioning admin');
  for (const userId of params.aliasCreators) {
    if (!MXID.test(userId) || !userId.endsWith(`:${params.serverName}`)) {
      throw new Error(`aliasCreators must be local user ids: ${userId}`);
    }
  }
  for (const [name, value] of Object.entries(paths)) assertAbsolute(name, value);
  assertPort('ports.client', ports.client);
  assertPort('ports.metrics', ports.metrics);
  if (ports.client === ports.metrics) throw new Error('client and metrics ports must differ');
  if (!SIZE.test(limits.maxUploadSize)) throw new Error(`maxUploadSize is not a size: ${limits.maxUploadSize}`);
  for (const key of ['turnUserLifetime', 'localMediaLifetime', 'userIpsMaxAge', 'redactionRetentionPeriod'] as const) {
    if (!DURATION.test(limits[key])) throw new Error(`${key} is not a duration: ${limits[key]}`);
  }
  if (bindAddresses.length === 0) throw new Error('bindAddresses must not be empty');
  if (params.matrixRtc) {
    assertPort('matrixRtc.openIdPort', params.matrixRtc.openIdPort);
    if ([ports.client, ports.metrics].includes(params.matrixRtc.openIdPort)) {
      throw new Error('matrixRtc.openIdPort must differ from the client and metrics ports');
    }
    const authoriser = new URL(params.matrixRtc.authoriserUrl);
    if (authoriser.protocol !== 'https:' && authoriser.protocol !== 'http:') {
      throw new Error('matrixRtc.authoriserUrl must be http(s)');
    }
  }
  if (params.database.kind === 'postgres') {
    assertPort('database.port', params.database.port);
    assertAbsolute('database.passfilePath', params.database.passfilePath);
  }
  return { paths, ports, limits, bindAddresses };
}

function databaseSection(database: SynapseDatabase, dataDir: string): Record<string, unknown> {
  if (database.kind === 'sqlite') {
    return { name: 'sqlite3', args: { database: posix.join(dataDir, 'homeserver.db') } };
  }
  return {
    name: 'psycopg2',
    args: {
      host: database.host,
      port: database.port,
      user: database.user,
      dbname: database.database,
      passfile: database.passfilePath,
      cp_min: 2,
      cp_max: 10,
    },
  };
}

/** The homeserver config as a plain object (what `renderHomeserverYaml` serialises). */
export function buildHomeserverConfig(params: SynapseConfigParams): Record<string, unknown> {
  const { paths, ports, limits, bindAddresses } = resolve(params);
  const secret = (file: string) => posix.join(paths.secretsDir, file);

  return {
    server_name: params.serverName,
    public_baseurl: params.publicBaseUrl,
    pid_file: posix.join(paths.dataDir, 'homeserver.pid'),
    log_config: posix.join(paths.configDir, SYNAPSE_CONFIG_FILES.log),
    // Synapse refuses to start without this key, whatever its documented default.
    report_stats: false,

    listeners: [
      {
        port: ports.client,
        type: 'http',
        tls: false,
        // false: Synapse records the ingress address, not the client's, in user_ips.
        x_forwarded: false,
        bind_addresses: bindAddresses,
        // No `federation` resource (it would also mount keys and openid): those paths 404.
        resources: [{ names: ['client'], compress: false }],
      },
      { port: ports.metrics, type: 'metrics', bind_addresses: bindAddresses },
      ...(params.matrixRtc ? [openIdListener(params.matrixRtc.openIdPort, bindAddresses)] : []),
    ],
    enable_metrics: true,

    // Federation off at every layer: an empty whitelist denies every destination in and out (absent would
    // allow all), no notary key servers, nothing served or looked up over federation.
    federation_domain_whitelist: [],
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    allow_profile_lookup_over_federation: false,
    allow_public_rooms_over_federation: false,
    allow_device_name_lookup_over_federation: false,

    // Accounts exist only through the operator (shared-secret admin API); no guests, no 3PID.
    enable_registration: false,
    allow_guest_access: false,
    enable_3pid_lookup: false,
    enable_3pid_changes: false,
    enable_set_displayname: false,
    enable_set_avatar_url: false,
    password_config: { enabled: true },
    registration_shared_secret_path: secret(SYNAPSE_SECRET_FILES.registrationSharedSecret),
    macaroon_secret_key_path: secret(SYNAPSE_SECRET_FILES.macaroonSecretKey),
    form_secret_path: secret(SYNAPSE_SECRET_FILES.formSecret),
    signing_key_path: secret(SYNAPSE_SECRET_FILES.signingKey),

    // Rooms: only the operator's admin creates aliases and invites; nothing is published or searchable.
    block_non_admin_invites: true,
    alias_creation_rules: params.aliasCreators.map((userId) => ({
      user_id: userId,
      alias: '*',
      room_id: '*',
      action: 'allow',
    })),
    room_list_publication_rules: [{ action: 'deny' }],
    enable_room_list_search: false,
    encryption_enabled_by_default_for_room_type: 'all',

    // Privacy: no outbound fetches, presence or directory leaks; profiles only among room-mates.
    url_preview_enabled: false,
    presence: { enabled: false },
    user_directory: { enabled: true, search_all_users: false },
    require_auth_for_profile_requests: true,
    limit_profile_requests_to_users_who_share_rooms: true,
    include_profile_data_on_invite: false,
    push: { include_content: false },
    user_ips_max_age: limits.userIpsMaxAge,
    redaction_retention_period: limits.redactionRetentionPeriod,
    forgotten_room_retention_period: '1d',

    database: databaseSection(params.database, paths.dataDir),
    // A fresh database schedules ~60 background schema updates, one per second by default. Until they finish,
    // some admin calls fail (reactivating a user upserts on an index still being built). Our databases are
    // tiny and new, so run them back to back: done within seconds of boot.
    background_updates: { sleep_enabled: false },
    media_store_path: posix.join(paths.dataDir, 'media_store'),
    max_upload_size: limits.maxUploadSize,
    media_retention: { local_media_lifetime: limits.localMediaLifetime },

    // 1:1 VoIP through our coturn, REST-API credentials minted per user for a short time; guests get none.
    turn_uris: params.turnUris,
    turn_shared_secret_path: secret(SYNAPSE_SECRET_FILES.turnSharedSecret),
    turn_user_lifetime: limits.turnUserLifetime,
    turn_allow_guests: false,

    // The provisioner and the recorder log in in bursts; failed attempts stay tight.
    rc_login: {
      address: { per_second: 10, burst_count: 100 },
      account: { per_second: 10, burst_count: 100 },
      failed_attempts: { per_second: 1, burst_count: 10 },
    },
    ...(params.matrixRtc ? matrixRtcSection(params.matrixRtc) : {}),
  };
}

/**
 * The MatrixRTC authoriser validates OpenID tokens at `/_matrix/federation/v1/openid/userinfo`. Only the `openid`
 * resource serves it without the federation API; on a listener of its own, the authoriser's NetworkPolicy can open
 * this port alone.
 */
function openIdListener(port: number, bindAddresses: string[]): Record<string, unknown> {
  return {
    port,
    type: 'http',
    tls: false,
    x_forwarded: false,
    bind_addresses: bindAddresses,
    resources: [{ names: ['openid'], compress: false }],
  };
}

/**
 * What Element Call needs from the homeserver (shared notes calls.md): room summaries (MSC3266), sticky call
 * membership via delayed events (MSC4140, with a max delay, else calls stick after a client vanishes), MSC4222 sync,
 * the focus announced both ways (client well-known `rtc_foci`, and MSC4143 `rtc/transports` on newer clients), and
 * message rate limits loose enough for the per-participant encryption-key events of a call.
 */
function matrixRtcSection(rtc: SynapseMatrixRtc): Record<string, unknown> {
  const focus = { type: 'livekit', livekit_service_url: rtc.authoriserUrl };
  return {
    experimental_features: { msc3266_enabled: true, msc4222_enabled: true, msc4143_enabled: true },
    max_event_delay_duration: '24h',
    rc_message: { per_second: 0.5, burst_count: 30 },
    rc_delayed_event_mgmt: { per_second: 1, burst_count: 20 },
    extra_well_known_client_content: { 'org.matrix.msc4143.rtc_foci': [focus] },
    matrix_rtc: { transports: [focus] },
  };
}

export function renderHomeserverYaml(params: SynapseConfigParams): string {
  const header = '# Rendered by warroom: no secrets here, every secret is a *_path into the mounted Secret.\n';
  return header + stringify(buildHomeserverConfig(params), { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * WARNING and above only; `synapse.access` silenced, since its lines carry client IPs, MXIDs, request paths and
 * user agents; `synapse.storage.SQL` pinned at INFO because at DEBUG it logs access tokens.
 */
export function renderSynapseLogYaml(): string {
  return stringify(
    {
      version: 1,
      formatters: {
        precise: { format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s' },
      },
      handlers: { console: { class: 'logging.StreamHandler', formatter: 'precise' } },
      loggers: {
        'synapse.access': { level: 'WARNING' },
        'synapse.storage.SQL': { level: 'INFO' },
      },
      root: { level: 'WARNING', handlers: ['console'] },
      disable_existing_loggers: false,
    },
    { lineWidth: 0, aliasDuplicateObjects: false },
  );
}

/**
 * One libpq password-file line. Its content IS a secret: it belongs in a Secret, never a ConfigMap.
 * libpq treats `:` and `\` as special in every field.
 */
export function renderPgpassLine(entry: {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}): string {
  const escapeField = (value: string) => {
    if (/[\r\n]/.test(value)) throw new Error('pgpass fields must be single-line');
    return value.replaceAll('\\', '\\\\').replaceAll(':', '\\:');
  };
  return `${[entry.host, String(entry.port), entry.database, entry.user, entry.password].map(escapeField).join(':')}\n`;
}
