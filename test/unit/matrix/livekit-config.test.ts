import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  buildLiveKitConfig,
  liveKitStartCommand,
  renderLiveKitConfig,
  TURN_SECRET_PLACEHOLDER,
} from '../../../src/matrix/config/livekit.ts';

const params = {
  port: 7880,
  rtcTcpPort: 30781,
  rtcUdpPort: 30782,
  nodeIp: '203.0.113.10',
  keyFile: '/run/secrets/livekit/keys.yaml',
  turn: { host: 'turn.example.org', port: 30000, protocol: 'udp' as const, ttlSeconds: 3600 },
};

test('rooms only through the authoriser, no STUN discovery, coturn as the only ICE server, no secret', () => {
  const config = buildLiveKitConfig(params) as Record<string, Record<string, unknown>>;
  assert.deepEqual(config.room, { auto_create: false });
  assert.equal(config.rtc?.use_external_ip, false);
  assert.equal(config.rtc?.node_ip, '203.0.113.10');
  assert.equal(config.rtc?.stun_servers, undefined);
  assert.deepEqual(config.rtc?.turn_servers, [
    { host: 'turn.example.org', port: 30000, protocol: 'udp', ttl: 3600, secret: TURN_SECRET_PLACEHOLDER },
  ]);
  assert.deepEqual(config.turn, { enabled: false });
  assert.equal(config.key_file, '/run/secrets/livekit/keys.yaml');
  assert.doesNotMatch(renderLiveKitConfig(params), /keys:|api_secret/);
  assert.throws(() => buildLiveKitConfig({ ...params, nodeIp: 'node-1' }), /IPv4/);
  assert.throws(() => buildLiveKitConfig({ ...params, rtcTcpPort: 7880 }), /differ/);
  assert.equal(
    (buildLiveKitConfig({ ...params, nodeIp: undefined }).rtc as Record<string, unknown>).node_ip,
    undefined,
  );
});

test('the start command splices the TURN secret into a private copy and refuses a suspicious one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warroom-lk-start-'));
  try {
    const templatePath = join(dir, 'livekit.yaml');
    const turnSecretPath = join(dir, 'turn');
    const runtimeConfigPath = join(dir, 'runtime.yaml');
    // A stand-in binary that prints its arguments, so the script runs to its exec.
    const binary = join(dir, 'fake-livekit');
    writeFileSync(binary, '#!/bin/sh\necho "started $*"\n', { mode: 0o755 });
    writeFileSync(templatePath, renderLiveKitConfig(params));
    writeFileSync(turnSecretPath, 'c2VjcmV0-value_0123456789\n');
    const [shell, ...args] = liveKitStartCommand({ templatePath, turnSecretPath, runtimeConfigPath, binary });
    const ok = spawnSync(shell ?? '/bin/sh', args, { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`started --config ${runtimeConfigPath}`));
    const runtime = parse(readFileSync(runtimeConfigPath, 'utf8')) as { rtc: { turn_servers: { secret: string }[] } };
    assert.equal(runtime.rtc.turn_servers[0]?.secret, 'c2VjcmV0-value_0123456789');
    assert.equal(statSync(runtimeConfigPath).mode & 0o077, 0, 'runtime config is private');

    writeFileSync(turnSecretPath, 'x\nkeys: {evil: 1}\n');
    const bad = spawnSync(shell ?? '/bin/sh', args, { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unexpected characters/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
