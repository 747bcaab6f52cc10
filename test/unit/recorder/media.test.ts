import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decryptAttachment, type EncryptedFile, MediaError, mediaRefsOf } from '../../../src/recorder/media.ts';

function encrypt(plain: Buffer): { ciphertext: Buffer; file: EncryptedFile } {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return {
    ciphertext,
    file: {
      url: 'mxc://inc.invalid/abc',
      v: 'v2',
      key: { kty: 'oct', alg: 'A256CTR', k: key.toString('base64url') },
      iv: b64(iv),
      hashes: { sha256: b64(createHash('sha256').update(ciphertext).digest()) },
    },
  };
}

test('an encrypted attachment decrypts after its ciphertext hash is checked', () => {
  const plain = randomBytes(5000);
  const { ciphertext, file } = encrypt(plain);
  assert.deepEqual(decryptAttachment(ciphertext, file), plain);
});

test('a changed ciphertext byte or a wrong hash is refused', () => {
  const { ciphertext, file } = encrypt(randomBytes(100));
  const tampered = Buffer.from(ciphertext);
  tampered[10] = (tampered[10] ?? 0) ^ 1;
  assert.throws(() => decryptAttachment(tampered, file), MediaError);
  assert.throws(() => decryptAttachment(ciphertext, { ...file, hashes: { sha256: '' } }), /sha256 does not match/);
  assert.throws(() => decryptAttachment(ciphertext, { ...file, key: { k: 'AAAA' } }), /key or iv/);
});

test('media references: encrypted file, plain url, none', () => {
  const { file } = encrypt(Buffer.from('x'));
  assert.deepEqual(mediaRefsOf({ msgtype: 'm.file', body: 'a', file, info: { mimetype: 'text/plain' } }), [
    { mxcUri: file.url, mimetype: 'text/plain', encrypted: file },
  ]);
  assert.deepEqual(mediaRefsOf({ msgtype: 'm.image', url: 'mxc://s/id' }), [{ mxcUri: 'mxc://s/id' }]);
  assert.deepEqual(mediaRefsOf({ msgtype: 'm.text', body: 'hi' }), []);
  assert.deepEqual(mediaRefsOf({ url: 'https://evil.example/x' }), []);
});
