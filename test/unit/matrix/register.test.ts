import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registrationMac } from '../../../src/matrix/register.ts';

// Expected values computed with the recipe from Synapse's docs/admin_api/register_api.md:
//   printf '%s\0%s\0%s\0%s' "$nonce" "$username" "$password" "$admin" | openssl sha1 -hmac "$secret" | awk '{print $2}'
// (with a fifth '\0%s' for user_type).

test('registrationMac matches the documented printf|openssl recipe (notadmin)', () => {
  assert.equal(
    registrationMac('s3cr3t-shared', {
      nonce: 'a'.repeat(128),
      username: 'alice',
      password: 'correct horse battery staple',
      admin: false,
    }),
    'f8dff20e617c6ced944a80feb3503db0b1cb0683',
  );
});

test('registrationMac matches the recipe for an admin with non-ASCII password (UTF-8)', () => {
  assert.equal(
    registrationMac('another secret', {
      nonce: '0123456789abcdef',
      username: 'warroom-admin',
      password: 'pässwörd-ü',
      admin: true,
    }),
    '9ec887e0a6773416be91053a0e3e8f44abd1dd61',
  );
});

test('registrationMac appends user_type only when it is set', () => {
  const base = { nonce: '0123456789abcdef', username: 'bot', password: 'pw', admin: false };
  assert.equal(
    registrationMac('another secret', { ...base, userType: 'bot' }),
    '2899095afe8fbf2089705af332662fe99210cc0c',
  );
  assert.equal(registrationMac('another secret', { ...base, userType: null }), registrationMac('another secret', base));
  assert.notEqual(
    registrationMac('another secret', { ...base, userType: 'bot' }),
    registrationMac('another secret', base),
  );
});

test('registrationMac binds every field: any change yields another MAC', () => {
  const base = { nonce: 'n', username: 'u', password: 'p', admin: false };
  const reference = registrationMac('k', base);
  assert.match(reference, /^[0-9a-f]{40}$/);
  for (const variant of [
    { ...base, nonce: 'n2' },
    { ...base, username: 'u2' },
    { ...base, password: 'p2' },
    { ...base, admin: true },
  ]) {
    assert.notEqual(registrationMac('k', variant), reference);
  }
  assert.notEqual(registrationMac('k2', base), reference);
  // The NUL separators keep field boundaries: moving a character across them changes the MAC.
  assert.notEqual(
    registrationMac('k', { ...base, username: 'up', password: '' }),
    registrationMac('k', { ...base, username: 'u', password: 'p' }),
  );
});
