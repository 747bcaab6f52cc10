import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  renderHomeserverYaml,
  renderPgpassLine,
  renderSynapseLogYaml,
  type SynapseConfigParams,
  synapseCommandArgs,
} from '../../../src/matrix/config/synapse.ts';

const params: SynapseConfigParams = {
  serverName: 'inc-42.invalid',
  publicBaseUrl: 'https://matrix.inc-42.example.org/',
  turnUris: ['turn:turn.inc-42.example.org:3478?transport=udp', 'turn:turn.inc-42.example.org:3478?transport=tcp'],
  database: { kind: 'sqlite' },
  aliasCreators: ['@warroom-admin:inc-42.invalid'],
};
type Config = Record<string, unknown> & {
  listeners: Array<{ port: number; type: string; bind_addresses: string[]; resources?: Array<{ names: string[] }> }>;
};
const render = (overrides: Partial<SynapseConfigParams> = {}) =>
  parse(renderHomeserverYaml({ ...params, ...overrides })) as Config;

test('federation is off at every layer', () => {
  const config = render();
  const resources = config.listeners.flatMap((l) => (l.resources ?? []).flatMap((r) => r.names));
  assert.deepEqual(resources, ['client']);
  assert.deepEqual(config.federation_domain_whitelist, []);
  assert.deepEqual(config.trusted_key_servers, []);
  assert.equal(config.allow_profile_lookup_over_federation, false);
  assert.equal(config.allow_public_rooms_over_federation, false);
  assert.equal(config.allow_device_name_lookup_over_federation, false);
});

test('client listener on 8008 and a separate metrics listener on 9000 by default', () => {
  const config = render();
  assert.deepEqual(
    config.listeners.map((l) => [l.port, l.type, l.bind_addresses]),
    [
      [8008, 'http', ['0.0.0.0']],
      [9000, 'metrics', ['0.0.0.0']],
    ],
  );
  assert.equal(config.enable_metrics, true);
  assert.equal((config.listeners[0] as unknown as { x_forwarded: boolean }).x_forwarded, false);
  const custom = render({ ports: { client: 18008, metrics: 19000 }, bindAddresses: ['127.0.0.1'] });
  assert.deepEqual(
    custom.listeners.map((l) => [l.port, l.bind_addresses]),
    [
      [18008, ['127.0.0.1']],
      [19000, ['127.0.0.1']],
    ],
  );
});

test('secrets appear only as *_path keys under the secrets dir', () => {
  const config = render({ paths: { secretsDir: '/run/secrets/synapse' } });
  assert.deepEqual(
    Object.entries(config)
      .filter(([key]) => key.endsWith('_path') && key !== 'media_store_path')
      .map(([key, value]) => [key, value]),
    [
      ['registration_shared_secret_path', '/run/secrets/synapse/registration_shared_secret'],
      ['macaroon_secret_key_path', '/run/secrets/synapse/macaroon_secret_key'],
      ['form_secret_path', '/run/secrets/synapse/form_secret'],
      ['signing_key_path', '/run/secrets/synapse/signing.key'],
      ['turn_shared_secret_path', '/run/secrets/synapse/turn_shared_secret'],
    ],
  );
  for (const inline of [
    'registration_shared_secret',
    'macaroon_secret_key',
    'form_secret',
    'turn_shared_secret',
    'turn_password',
    'turn_username',
    'signing_key',
  ]) {
    assert.ok(!(inline in config), `${inline} must not be inline`);
  }
  assert.ok(synapseCommandArgs().includes('--no-secrets-in-config'));
});

test('accounts, rooms and privacy are locked down', () => {
  const config = render();
  const expected: Record<string, unknown> = {
    report_stats: false,
    enable_registration: false,
    allow_guest_access: false,
    enable_3pid_lookup: false,
    enable_3pid_changes: false,
    enable_set_displayname: false,
    enable_set_avatar_url: false,
    block_non_admin_invites: true,
    enable_room_list_search: false,
    encryption_enabled_by_default_for_room_type: 'all',
    url_preview_enabled: false,
    require_auth_for_profile_requests: true,
    limit_profile_requests_to_users_who_share_rooms: true,
    include_profile_data_on_invite: false,
    turn_allow_guests: false,
    turn_user_lifetime: '1h',
    max_upload_size: '20M',
  };
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(config[key], value, key);
  assert.deepEqual(config.presence, { enabled: false });
  assert.deepEqual(config.user_directory, { enabled: true, search_all_users: false });
  assert.deepEqual(config.push, { include_content: false });
  assert.deepEqual(config.room_list_publication_rules, [{ action: 'deny' }]);
  // Synapse applies these rules to admins too: only the provisioning bot may create aliases.
  assert.deepEqual(config.alias_creation_rules, [
    { user_id: '@warroom-admin:inc-42.invalid', alias: '*', room_id: '*', action: 'allow' },
  ]);
  assert.deepEqual(config.turn_uris, params.turnUris);
});

test('paths default to /config, /data and /secrets', () => {
  const config = render();
  assert.equal(config.log_config, '/config/log.yaml');
  assert.equal(config.pid_file, '/data/homeserver.pid');
  assert.equal(config.media_store_path, '/data/media_store');
  assert.deepEqual(config.database, { name: 'sqlite3', args: { database: '/data/homeserver.db' } });
  assert.deepEqual(synapseCommandArgs(), [
    '-m',
    'synapse.app.homeserver',
    '--config-path',
    '/config/homeserver.yaml',
    '--no-secrets-in-config',
  ]);
});

test('postgres reads its password from a libpq passfile, never from the YAML', () => {
  const config = render({
    database: {
      kind: 'postgres',
      host: 'postgres',
      port: 5432,
      user: 'synapse',
      database: 'synapse',
      passfilePath: '/secrets/pgpass',
    },
  });
  const database = config.database as { name: string; args: Record<string, unknown> };
  assert.equal(database.name, 'psycopg2');
  assert.equal(database.args.passfile, '/secrets/pgpass');
  assert.equal(database.args.dbname, 'synapse');
  assert.ok(!('password' in database.args));
});

test('renderPgpassLine escapes the separators libpq treats specially', () => {
  assert.equal(
    renderPgpassLine({ host: 'db', port: 5432, database: 'synapse', user: 'u', password: 'a:b\\c' }),
    'db:5432:synapse:u:a\\:b\\\\c\n',
  );
  assert.throws(() => renderPgpassLine({ host: 'db', port: 5432, database: 's', user: 'u', password: 'a\nb' }));
});

test('output is plain YAML (no anchors) that starts with a header', () => {
  const text = renderHomeserverYaml(params);
  assert.ok(text.startsWith('# Rendered by warroom'));
  assert.doesNotMatch(text, /[&*]a\d/);
});

test('invalid parameters are refused', () => {
  const bad: Array<Partial<SynapseConfigParams>> = [
    { serverName: 'Inc-42.invalid' },
    { serverName: 'inc-42.invalid:8448' },
    { publicBaseUrl: 'ftp://x/' },
    { turnUris: ['stun:x'] },
    { aliasCreators: [] },
    { aliasCreators: ['@warroom-admin:elsewhere.example'] },
    { ports: { client: 9000, metrics: 9000 } },
    { ports: { client: 0 } },
    { paths: { dataDir: 'data' } },
    { limits: { maxUploadSize: 'lots' } },
    { limits: { turnUserLifetime: 'forever' } },
    { bindAddresses: [] },
  ];
  for (const overrides of bad) assert.throws(() => render(overrides), JSON.stringify(overrides));
});

test('log config: WARNING root, access log silenced, SQL never at DEBUG', () => {
  const log = parse(renderSynapseLogYaml()) as {
    root: { level: string };
    loggers: Record<string, { level: string }>;
    version: number;
  };
  assert.equal(log.version, 1);
  assert.equal(log.root.level, 'WARNING');
  // Access lines are INFO: anything above drops them, with their IPs, MXIDs and user agents.
  assert.ok(['WARNING', 'ERROR', 'CRITICAL'].includes(log.loggers['synapse.access']?.level ?? ''));
  assert.equal(log.loggers['synapse.storage.SQL']?.level, 'INFO');
});
