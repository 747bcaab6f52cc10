import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSecretKey, MAX_REDACT_DEPTH, REDACTED, redactSecrets } from '../../../src/observability/redact.ts';

describe('isSecretKey', () => {
  it('matches credential-looking keys in any case and separator style', () => {
    for (const key of [
      'password',
      'adminPassword',
      'passwd',
      'token',
      'accessToken',
      'access_token',
      'refresh-token',
      'secret',
      'turn_shared_secret',
      'registration_shared_secret',
      'macaroon_secret_key',
      'form_secret',
      'signing_key',
      'privateKey',
      'apiKey',
      'Authorization',
      'Proxy-Authorization',
      'cookie',
      'set-cookie',
      'data',
      'stringData',
      'encryptedData',
    ]) {
      assert.equal(isSecretKey(key), true, key);
    }
  });

  it('leaves ordinary keys alone', () => {
    for (const key of ['name', 'namespace', 'phase', 'handle', 'user_id', 'kind', 'metadata', 'tokens', 'reason']) {
      assert.equal(isSecretKey(key), false, key);
    }
  });
});

describe('redactSecrets', () => {
  it('replaces secret values at any depth without mutating the input', () => {
    const input = { a: { b: { c: { d: { e: { f: { password: 'deep' } } } } } }, keep: 1 };
    const out = redactSecrets(input);
    assert.equal(out.a.b.c.d.e.f.password, REDACTED);
    assert.equal(input.a.b.c.d.e.f.password, 'deep');
    assert.equal(out.keep, 1);
  });

  it('returns the same object when nothing is secret, and shares untouched branches', () => {
    const clean = { metadata: { name: 'x', labels: { a: 'b' } }, list: [1, 2, 3] };
    assert.equal(redactSecrets(clean), clean);
    const mixed = { untouched: { a: 1 }, creds: { token: 't' } };
    const out = redactSecrets(mixed);
    assert.notEqual(out, mixed);
    assert.equal(out.untouched, mixed.untouched);
  });

  it('walks arrays, Maps, Sets and class instances (client-node models are classes)', () => {
    class V1Secret {
      kind = 'Secret';
      data = { key: 'c2VjcmV0' };
    }
    const out = redactSecrets({
      list: [{ token: 'a' }, 'plain'],
      map: new Map([['password', 'b']]),
      set: new Set([{ secret: 'c' }]),
      obj: new V1Secret(),
    }) as unknown as Record<string, unknown>;
    assert.deepEqual(out.list, [{ token: REDACTED }, 'plain']);
    assert.deepEqual(out.map, { password: REDACTED });
    assert.deepEqual(out.set, [{ secret: REDACTED }]);
    assert.deepEqual(out.obj, { kind: 'Secret', data: REDACTED });
  });

  it('leaves primitives, dates and buffers as they are', () => {
    const when = new Date(0);
    const buf = Buffer.from('abc');
    assert.equal(redactSecrets('x'), 'x');
    assert.equal(redactSecrets(null), null);
    assert.equal(redactSecrets(when), when);
    assert.equal(redactSecrets(buf), buf);
    assert.deepEqual(redactSecrets({ token: undefined }), { token: undefined });
  });

  it('turns errors into plain objects and scrubs their properties and causes', () => {
    const err = Object.assign(new Error('outer', { cause: Object.assign(new Error('inner'), { token: 't' }) }), {
      password: 'p',
    });
    const out = redactSecrets({ err }) as unknown as { err: Record<string, unknown> };
    assert.equal(out.err.type, 'Error');
    assert.equal(out.err.message, 'outer');
    assert.equal(out.err.password, REDACTED);
    assert.deepEqual(
      {
        message: (out.err.cause as Record<string, unknown>).message,
        token: (out.err.cause as Record<string, unknown>).token,
      },
      { message: 'inner', token: REDACTED },
    );
  });

  it('survives cycles and bounds depth instead of passing deep values through unchecked', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const out = redactSecrets(cyclic) as Record<string, unknown>;
    assert.equal(out.self, '[Circular]');

    let deep: Record<string, unknown> = { password: 'too-deep' };
    for (let i = 0; i < MAX_REDACT_DEPTH + 5; i++) deep = { next: deep };
    assert.ok(!JSON.stringify(redactSecrets(deep)).includes('too-deep'));
  });

  it('does not mistake a shared (non-cyclic) reference for a cycle', () => {
    const shared = { token: 't' };
    const out = redactSecrets({ a: shared, b: shared }) as Record<string, unknown>;
    assert.deepEqual(out, { a: { token: REDACTED }, b: { token: REDACTED } });
  });
});
