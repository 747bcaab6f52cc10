import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, isLogLevel, type Logger, type LogLevel } from '../../../src/observability/logger.ts';

function capture(level: LogLevel = 'info'): {
  log: Logger;
  raw: string[];
  lines: () => Array<Record<string, unknown>>;
} {
  const raw: string[] = [];
  const log = createLogger({ level, component: 'warroom-test', destination: { write: (chunk) => raw.push(chunk) } });
  return { log, raw, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const SECRETS = {
  password: 'hunter2-PASSWORD-VALUE',
  token: 'syt_TOKEN_VALUE_123',
  accessToken: 'syt_ACCESS_TOKEN_VALUE',
  access_token: 'syt_ACCESS_TOKEN_SNAKE',
  secret: 'SHARED-SECRET-VALUE',
  bearer: 'Bearer eyJhbGciOiJSUzI1NiJ9.AUTH-HEADER-VALUE',
  secretData: 'c2VjcmV0LWRhdGEtdmFsdWU=',
  stringData: 'STRING-DATA-VALUE',
  sealed: 'AgBy8hCE-ENCRYPTED-DATA-VALUE',
  registration: 'REGISTRATION-SHARED-SECRET-VALUE',
  cookie: 'session=COOKIE-VALUE',
};

describe('createLogger redaction', () => {
  it('never writes a secret value passed in a logged object, at any depth', () => {
    const { log, raw, lines } = capture();
    log.info(
      {
        password: SECRETS.password,
        user: { token: SECRETS.token, name: 'alice-handle' },
        login: { response: { access_token: SECRETS.access_token, user_id: '@alice:war.room' } },
        matrix: { session: { credentials: { accessToken: SECRETS.accessToken } } },
        turn: { secret: SECRETS.secret },
        req: { method: 'GET', headers: { authorization: SECRETS.bearer, cookie: SECRETS.cookie } },
        secret: { kind: 'Secret', data: { key: SECRETS.secretData }, stringData: { pw: SECRETS.stringData } },
        sealedSecret: { kind: 'SealedSecret', spec: { encryptedData: { key: SECRETS.sealed } } },
        synapse: { config: { registration_shared_secret: SECRETS.registration } },
        participants: [{ handle: 'bob', password: SECRETS.password }],
      },
      'provisioned',
    );
    const output = raw.join('');
    for (const [name, value] of Object.entries(SECRETS)) {
      assert.ok(!output.includes(value), `${name} leaked into the log: ${output}`);
    }
    const [line] = lines();
    assert.ok(line);
    assert.equal(line.msg, 'provisioned');
    assert.deepEqual(line.user, { token: '[REDACTED]', name: 'alice-handle' });
    assert.deepEqual((line.req as { headers: unknown }).headers, {
      authorization: '[REDACTED]',
      cookie: '[REDACTED]',
    });
    assert.equal((line.req as { method: string }).method, 'GET');
    assert.deepEqual(line.participants, [{ handle: 'bob', password: '[REDACTED]' }]);
    assert.equal((line.login as { response: { user_id: string } }).response.user_id, '@alice:war.room');
  });

  it('redacts child bindings, nested children and setBindings', () => {
    const { log, raw, lines } = capture();
    const child = log.child({ controller: 'incidentchannel', token: SECRETS.token });
    const grandchild = child.child({ name: 'case-1', auth: { password: SECRETS.password } });
    grandchild.info('hello');
    grandchild.setBindings({ secret: SECRETS.secret });
    grandchild.info('again');
    const output = raw.join('');
    assert.ok(!output.includes(SECRETS.token));
    assert.ok(!output.includes(SECRETS.password));
    assert.ok(!output.includes(SECRETS.secret));
    const [first] = lines();
    assert.equal(first?.controller, 'incidentchannel');
    assert.equal(first?.name, 'case-1');
    assert.equal(first?.token, '[REDACTED]');
  });

  it('redacts secret properties of logged errors and their causes, keeping message and stack', () => {
    const { log, raw, lines } = capture();
    const cause = Object.assign(new Error('401 from homeserver'), { accessToken: SECRETS.accessToken });
    const err = Object.assign(new Error('login failed', { cause }), { password: SECRETS.password, status: 401 });
    log.error({ err }, 'provisioning failed');
    log.error(err, 'bare error');
    const output = raw.join('');
    assert.ok(!output.includes(SECRETS.accessToken));
    assert.ok(!output.includes(SECRETS.password));
    for (const line of lines()) {
      const logged = line.err as Record<string, unknown>;
      assert.equal(logged.type, 'Error');
      assert.equal(logged.message, 'login failed');
      assert.match(String(logged.stack), /login failed/);
      assert.equal(logged.status, 401);
      assert.equal((logged.cause as Record<string, unknown>).message, '401 from homeserver');
    }
  });
});

describe('createLogger output', () => {
  it('writes one JSON object per line with a string level, ISO time, pid, hostname and component', () => {
    const { log, raw, lines } = capture();
    log.warn({ phase: 'Ready' }, 'channel ready');
    assert.equal(raw.length, 1);
    assert.ok(raw[0]?.endsWith('\n'));
    const [line] = lines();
    assert.equal(line?.level, 'warn');
    assert.equal(line?.component, 'warroom-test');
    assert.equal(line?.pid, process.pid);
    assert.equal(typeof line?.hostname, 'string');
    assert.equal(line?.name, undefined, '`name` is left free for the reconciled object');
    assert.equal(line?.phase, 'Ready');
    assert.match(String(line?.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('takes its level from configuration', () => {
    const info = capture('info');
    info.log.debug('hidden');
    info.log.info('shown');
    assert.deepEqual(
      info.lines().map((l) => l.msg),
      ['shown'],
    );

    const debug = capture('debug');
    debug.log.debug('shown');
    assert.deepEqual(
      debug.lines().map((l) => l.msg),
      ['shown'],
    );

    const silent = capture('silent');
    silent.log.fatal('hidden');
    assert.equal(silent.raw.length, 0);

    assert.equal(createLogger().level, 'info');
  });

  it('rejects unknown levels', () => {
    assert.throws(() => createLogger({ level: 'verbose' as LogLevel }), RangeError);
    assert.equal(isLogLevel('trace'), true);
    assert.equal(isLogLevel('verbose'), false);
    assert.equal(isLogLevel(3), false);
  });
});
