import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRecorderConfig, RECORDER_ENV, readPasswordFile } from '../../../src/recorder/config.ts';

const good = {
  [RECORDER_ENV.homeserverUrl]: 'http://127.0.0.1:8008',
  [RECORDER_ENV.user]: 'warroom-recorder',
  [RECORDER_ENV.serverName]: 'inc-42.invalid',
  [RECORDER_ENV.passwordFile]: '/run/secrets/warroom-recorder/password',
  [RECORDER_ENV.dataDir]: '/var/lib/warroom-recorder',
  [RECORDER_ENV.controlRoom]: '#control:inc-42.invalid',
  [RECORDER_ENV.channel]: JSON.stringify({ name: 'ir-42', uid: 'u-1', caseId: 'IR-42', namespace: 'wr-ir-42-abc' }),
};

test('parses the sidecar environment with defaults', () => {
  const config = parseRecorderConfig(good);
  assert.equal(config.userId, '@warroom-recorder:inc-42.invalid');
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 9101 });
  assert.equal(config.controlListen, undefined);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.mediaMaxBytes, 100 * 1024 * 1024);
  assert.equal(config.decryptWaitMs, 12_000);
  assert.equal(config.channel.caseId, 'IR-42');
  const custom = parseRecorderConfig({
    ...good,
    [RECORDER_ENV.listen]: '127.0.0.1:19101',
    [RECORDER_ENV.controlListen]: '[::]:9102',
    [RECORDER_ENV.logLevel]: 'debug',
    [RECORDER_ENV.mediaMaxBytes]: '1024',
  });
  assert.deepEqual(custom.listen, { host: '127.0.0.1', port: 19101 });
  assert.deepEqual(custom.controlListen, { host: '::', port: 9102 });
  assert.equal(custom.mediaMaxBytes, 1024);
});

test('bad input is one clear line naming each variable', () => {
  assert.throws(
    () => parseRecorderConfig({}),
    /recorder configuration: WARROOM_RECORDER_HOMESERVER_URL: .*WARROOM_RECORDER_USER/,
  );
  const cases: Array<[string, string, RegExp]> = [
    [RECORDER_ENV.listen, 'nope', /WARROOM_RECORDER_LISTEN: expected host:port/],
    [RECORDER_ENV.listen, '0.0.0.0:70000', /WARROOM_RECORDER_LISTEN/],
    [RECORDER_ENV.channel, '{', /WARROOM_RECORDER_CHANNEL: not JSON/],
    [RECORDER_ENV.channel, '{"name":"x"}', /WARROOM_RECORDER_CHANNEL: expected \{name, uid, caseId, namespace\}/],
    [RECORDER_ENV.controlRoom, 'control', /WARROOM_RECORDER_CONTROL_ROOM: a room alias/],
    [RECORDER_ENV.user, 'Recorder!', /WARROOM_RECORDER_USER: a Matrix localpart/],
    [RECORDER_ENV.logLevel, 'loud', /WARROOM_RECORDER_LOG_LEVEL: unknown log level/],
    [RECORDER_ENV.mediaMaxBytes, '-1', /WARROOM_RECORDER_MEDIA_MAX_BYTES/],
    [RECORDER_ENV.homeserverUrl, 'ftp://x', /WARROOM_RECORDER_HOMESERVER_URL/],
  ];
  for (const [key, value, expected] of cases) {
    assert.throws(() => parseRecorderConfig({ ...good, [key]: value }), expected, `${key}=${value}`);
  }
});

test('the password file is trimmed; a missing or empty file is a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'recorder-config-'));
  try {
    await writeFile(join(dir, 'pw'), 'secret-value-123\n');
    assert.equal(await readPasswordFile(join(dir, 'pw')), 'secret-value-123');
    await writeFile(join(dir, 'empty'), '\n');
    await assert.rejects(readPasswordFile(join(dir, 'empty')), /is empty/);
    await assert.rejects(readPasswordFile(join(dir, 'missing')), /cannot read WARROOM_RECORDER_PASSWORD_FILE .*ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
