import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { BlockList, isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { coturnStartCommand, renderTurnserverConf, type TurnserverParams } from '../../../src/matrix/config/coturn.ts';

const params: TurnserverParams = { realm: 'inc-42.invalid', minPort: 49160, maxPort: 49199 };
const lines = (conf: string) => conf.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
const values = (conf: string, key: string) =>
  lines(conf)
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

/**
 * An independent checker: node's own BlockList fed with the rendered ranges. One list per family, because a
 * BlockList also matches IPv4 addresses against IPv4-mapped IPv6 rules (which we deny as a whole).
 */
interface DenyLists {
  v4: BlockList;
  v6: BlockList;
}
function deniedBy(conf: string): DenyLists {
  const lists = { v4: new BlockList(), v6: new BlockList() };
  for (const range of values(conf, 'denied-peer-ip')) {
    const [first = '', last = first] = range.split('-');
    const [list, type] = isIPv4(first) ? [lists.v4, 'ipv4' as const] : [lists.v6, 'ipv6' as const];
    if (first === last) list.addAddress(first, type);
    else list.addRange(first, last, type);
  }
  return lists;
}
const isDenied = (lists: DenyLists, ip: string) =>
  isIPv4(ip) ? lists.v4.check(ip, 'ipv4') : lists.v6.check(ip, 'ipv6');

test('REST-API auth with no secret in the file', () => {
  const conf = renderTurnserverConf(params);
  assert.ok(lines(conf).includes('use-auth-secret'));
  assert.deepEqual(values(conf, 'realm'), ['inc-42.invalid']);
  assert.doesNotMatch(conf, /static-auth-secret/);
  assert.doesNotMatch(conf, /^(lt-cred-mech|user=|no-auth)/m);
});

test('relay, listener and logging hardening directives are present', () => {
  const conf = renderTurnserverConf(params);
  for (const flag of [
    'no-tcp-relay',
    'no-multicast-peers',
    'no-cli',
    'no-tls',
    'no-dtls',
    'no-software-attribute',
    'fingerprint',
  ]) {
    assert.ok(lines(conf).includes(flag), flag);
  }
  assert.deepEqual(values(conf, 'listening-port'), ['3478']);
  assert.deepEqual(values(conf, 'min-port'), ['49160']);
  assert.deepEqual(values(conf, 'max-port'), ['49199']);
  assert.deepEqual(values(conf, 'log-file'), ['stdout']);
  assert.deepEqual(values(conf, 'pidfile'), ['/var/tmp/turnserver.pid']);
  assert.deepEqual(values(conf, 'user-quota'), ['12']);
  assert.deepEqual(values(conf, 'total-quota'), ['1200']);
  assert.doesNotMatch(conf, /^(verbose|Verbose|-v)$/m);
  // No run-time external IP discovery in an isolated environment.
  assert.doesNotMatch(conf, /detect-external-ip|\$\(/);
  assert.deepEqual(values(conf, 'external-ip'), []);
});

test('the denied-peer list covers private, loopback, link-local/metadata, CGNAT, multicast and reserved space', () => {
  const denied = deniedBy(renderTurnserverConf(params));
  for (const ip of [
    '0.0.0.0',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.169.254',
    '100.64.0.1',
    '100.100.100.200',
    '192.0.0.170',
    '192.0.2.1',
    '198.18.0.1',
    '198.51.100.7',
    '203.0.113.9',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    '64:ff9b::a00:1',
    '2001:db8::1',
    '2002:a00:1::1',
    'fc00::1',
    'fd00:ec2::254',
    'fe80::1',
    'fec0::1',
    'ff02::1',
  ]) {
    assert.ok(isDenied(denied, ip), `${ip} must be denied`);
  }
  for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2a00:1450::1']) {
    assert.ok(!isDenied(denied, ip), `${ip} must stay reachable`);
  }
});

test('cluster CIDRs are added to the deny list; allowed peers are rendered separately', () => {
  const conf = renderTurnserverConf({
    ...params,
    extraDeniedPeerCidrs: ['203.0.114.0/24', '2a01:4f8::/32', '198.100.0.5'],
    allowedPeerCidrs: ['203.0.113.10'],
  });
  const denied = deniedBy(conf);
  assert.ok(isDenied(denied, '203.0.114.77'));
  assert.ok(isDenied(denied, '2a01:4f8:1::1'));
  assert.ok(isDenied(denied, '198.100.0.5'));
  assert.ok(!isDenied(denied, '198.100.0.6'));
  assert.deepEqual(values(conf, 'allowed-peer-ip'), ['203.0.113.10']);
});

test('listener, relay and external addresses are rendered when given', () => {
  const conf = renderTurnserverConf({
    ...params,
    listeningPort: 3479,
    listeningIps: ['10.0.0.5'],
    relayIp: '10.0.0.5',
    externalIp: '203.0.113.10/10.0.0.5',
    quotas: { user: 4, total: 40 },
    pidFile: '/run/coturn/pid',
    userDbPath: '/run/coturn/turndb',
  });
  assert.deepEqual(values(conf, 'listening-port'), ['3479']);
  assert.deepEqual(values(conf, 'listening-ip'), ['10.0.0.5']);
  assert.deepEqual(values(conf, 'relay-ip'), ['10.0.0.5']);
  assert.deepEqual(values(conf, 'external-ip'), ['203.0.113.10/10.0.0.5']);
  assert.deepEqual(values(conf, 'user-quota'), ['4']);
  assert.deepEqual(values(conf, 'pidfile'), ['/run/coturn/pid']);
  assert.deepEqual(values(conf, 'userdb'), ['/run/coturn/turndb']);
});

test('invalid parameters are refused (a bad line must never reach coturn)', () => {
  const bad: Array<Partial<TurnserverParams>> = [
    { realm: 'inc\nverbose' },
    { minPort: 50000, maxPort: 49000 },
    { minPort: 40000, maxPort: 45000 },
    { listeningPort: 49170 },
    { extraDeniedPeerCidrs: ['10.0.0.0/33'] },
    { extraDeniedPeerCidrs: ['cluster'] },
    { allowedPeerCidrs: ['1.2.3.4/8/1'] },
    { externalIp: '203.0.113.10/24' },
    { externalIp: 'example.org' },
    { listeningIps: ['10.0.0.0/8'] },
    { quotas: { user: 0, total: 10 } },
    { pidFile: 'relative.pid' },
    { userDbPath: '/tmp/db\nverbose' },
  ];
  for (const overrides of bad) {
    assert.throws(() => renderTurnserverConf({ ...params, ...overrides }), JSON.stringify(overrides));
  }
});

test('the start command assembles template + secret privately and execs with -c, secret never in argv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warroom-coturn-unit-'));
  try {
    const template = join(dir, "conf dir 'quoted'.conf");
    const secretPath = join(dir, 'turn_shared_secret');
    const runtime = join(dir, 'runtime.conf');
    const argsOut = join(dir, 'args');
    // Stand-in for turnserver: records its argv so we can check what coturn would have been given.
    const fakeBinary = join(dir, 'record-args');
    writeFileSync(fakeBinary, `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsOut}'\n`, { mode: 0o755 });
    writeFileSync(template, renderTurnserverConf(params));
    writeFileSync(secretPath, 'c2VjcmV0LXZhbHVl_-x\n');

    const command = coturnStartCommand({
      templatePath: template,
      secretPath,
      runtimeConfigPath: runtime,
      turnserverBinary: fakeBinary,
    });
    assert.equal(command[0], '/bin/sh');
    assert.ok(!command.join(' ').includes('c2VjcmV0LXZhbHVl'));
    const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);

    assert.deepEqual(readFileSync(argsOut, 'utf8').trim().split('\n'), ['-c', runtime]);
    const assembled = readFileSync(runtime, 'utf8');
    assert.ok(assembled.startsWith(renderTurnserverConf(params)));
    assert.deepEqual(values(assembled, 'static-auth-secret'), ['c2VjcmV0LXZhbHVl_-x']);
    assert.equal(statSync(runtime).mode & 0o077, 0, 'runtime conf readable by others');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the start command refuses an empty secret or one that would inject a directive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warroom-coturn-unit-'));
  try {
    const template = join(dir, 'turnserver.conf');
    writeFileSync(template, renderTurnserverConf(params));
    for (const secret of ['', '\n', 'abc\nverbose', 'abc def', "abc'$(id)"]) {
      const secretPath = join(dir, 'secret');
      const runtime = join(dir, 'runtime.conf');
      rmSync(runtime, { force: true });
      writeFileSync(secretPath, secret);
      const command = coturnStartCommand({
        templatePath: template,
        secretPath,
        runtimeConfigPath: runtime,
        turnserverBinary: '/bin/true',
      });
      const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
      assert.notEqual(run.status, 0, JSON.stringify(secret));
      assert.throws(() => statSync(runtime), JSON.stringify(secret));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('start command paths must be absolute', () => {
  assert.throws(() => coturnStartCommand({ templatePath: 'conf', secretPath: '/s', runtimeConfigPath: '/r' }));
  assert.throws(() => coturnStartCommand({ templatePath: '/c', secretPath: '/s\n', runtimeConfigPath: '/r' }));
});
