import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  decodeSignatureFile,
  encodeSignatureFile,
  keyId,
  loadOrCreateSigningKey,
  parsePublicKey,
  publicKeyBase64,
  publicKeyOf,
  signManifest,
  verifyManifestSignature,
} from '../../../src/evidence/signing.ts';
import { FileEvidenceStore } from '../../../src/evidence/store.ts';
import { cleanup, tempDir } from './fixtures.ts';

after(cleanup);

describe('signing key', () => {
  it('is created once (0600, PKCS#8 PEM), then loaded; concurrent creators agree on one key', async () => {
    const dir = await tempDir();
    const path = join(dir, 'evidence-signing.pem');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKey(path)));
    const ids = new Set(keys.map((k) => keyId(k)));
    assert.equal(ids.size, 1);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.deepEqual(await readdir(dir), ['evidence-signing.pem'], 'no temp files left');
    const again = await loadOrCreateSigningKey(path);
    assert.equal(keyId(again), keyId(keys[0]!));
  });

  it('creates the directory the key lives in when it is missing (a fresh volume)', async () => {
    const path = join(await tempDir(), 'not', 'yet', 'signing-key.pem');
    const key = await loadOrCreateSigningKey(path);
    assert.equal(keyId(await loadOrCreateSigningKey(path)), keyId(key));
  });

  it('refuses a world-readable key, a non-ed25519 key and garbage, without quoting the file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'k.pem');
    await loadOrCreateSigningKey(path);
    await chmod(path, 0o640);
    await loadOrCreateSigningKey(path); // a Secret volume with fsGroup is group-readable
    await chmod(path, 0o644);
    await assert.rejects(loadOrCreateSigningKey(path), /accessible to others/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(path, rsa, { mode: 0o600 });
    await chmod(path, 0o600);
    await assert.rejects(loadOrCreateSigningKey(path), /is rsa, expected ed25519/);
    await writeFile(path, '-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----\n');
    await assert.rejects(loadOrCreateSigningKey(path), (err: Error) => {
      assert.match(err.message, /is not a PEM private key/);
      assert.doesNotMatch(err.message, /c2VjcmV0/);
      return true;
    });
  });

  it('signs exact bytes; verification fails on any change; keys parse from PEM, base64 DER and private PEM', async () => {
    const key = await loadOrCreateSigningKey(join(await tempDir(), 'k.pem'));
    const bytes = new TextEncoder().encode('{"format":"warroom-evidence/v1"}\n');
    const sig = signManifest(bytes, key);
    assert.equal(sig.length, 64);
    const pub = publicKeyOf(key);
    assert.equal(verifyManifestSignature(bytes, sig, pub), true);
    assert.equal(verifyManifestSignature(bytes, sig, publicKeyBase64(key)), true);
    assert.equal(verifyManifestSignature(bytes, sig, pub.export({ type: 'spki', format: 'pem' }) as string), true);
    const changed = new Uint8Array(bytes);
    changed[3]! ^= 1;
    assert.equal(verifyManifestSignature(changed, sig, pub), false);
    assert.equal(verifyManifestSignature(bytes, sig, 'garbage'), false);
    assert.equal(keyId(parsePublicKey(key.export({ type: 'pkcs8', format: 'pem' }) as string)), keyId(key));
    assert.equal(keyId(createPublicKey(key)), keyId(key));
    assert.throws(() => signManifest(bytes, pub), /private key/);
  });

  it('manifest.sig accepts only the canonical base64 form', () => {
    const sig = new Uint8Array(64).fill(7);
    const file = encodeSignatureFile(sig);
    assert.deepEqual(decodeSignatureFile(file), sig);
    const text = Buffer.from(file).toString('latin1');
    for (const variant of [
      text.trimEnd(),
      ` ${text}`,
      text.replace('\n', '\r\n'),
      `${text}\n`,
      text.replace('==', '='),
    ]) {
      assert.equal(decodeSignatureFile(Buffer.from(variant, 'latin1')), undefined, JSON.stringify(variant));
    }
  });
});

describe('FileEvidenceStore', () => {
  it('writes atomically with mode 0600, finds the same bytes again, never overwrites a different archive', async () => {
    const dir = join(await tempDir(), 'store');
    const store = new FileEvidenceStore(dir);
    const a = new TextEncoder().encode('archive A');
    const b = new TextEncoder().encode('archive B');
    const first = await store.put('ir-1.tar', a);
    assert.equal(first.location, join(dir, 'ir-1.tar'));
    assert.match(first.sha256, /^[0-9a-f]{64}$/);
    assert.equal((await stat(first.location)).mode & 0o777, 0o600);
    assert.deepEqual(await store.put('ir-1.tar', a), first, 'idempotent');
    const second = await store.put('ir-1.tar', b);
    assert.equal(second.location, join(dir, 'ir-1-1.tar'));
    assert.deepEqual(Buffer.from(await store.get(first.location)), Buffer.from(a));
    assert.deepEqual(Buffer.from(await store.get('ir-1-1.tar')), Buffer.from(b));
    assert.deepEqual((await readdir(dir)).sort(), ['ir-1-1.tar', 'ir-1.tar'], 'no temp files left');
  });

  it('concurrent puts of different archives under one name all land, none lost', async () => {
    const store = new FileEvidenceStore(await tempDir());
    const bodies = Array.from({ length: 10 }, (_, i) => new TextEncoder().encode(`archive ${i}`));
    const results = await Promise.all(bodies.map((b) => store.put('same.tar', b)));
    assert.equal(new Set(results.map((r) => r.location)).size, 10);
    for (const [i, r] of results.entries()) {
      assert.deepEqual(Buffer.from(await store.get(r.location)), Buffer.from(bodies[i]!));
    }
  });

  it('refuses names with paths and locations outside the store', async () => {
    const store = new FileEvidenceStore(await tempDir());
    for (const name of ['../x.tar', 'a/b.tar', '', '.hidden', '/etc/passwd']) {
      await assert.rejects(store.put(name, new Uint8Array(1)), /plain file name/, name);
    }
    await assert.rejects(store.get('/etc/passwd'), /not in the store/);
    await assert.rejects(store.get('../x'), /not in the store/);
  });

  it('keeps an earlier archive the caller accepts as the same (a retry with another timestamp), names the rest apart', async () => {
    const store = new FileEvidenceStore(await tempDir());
    const first = await store.put('case.tar', Buffer.from('signed manifest + token 1'));
    const accepted = await store.put('case.tar', Buffer.from('signed manifest + token 2'), {
      acceptExisting: (existing) => Buffer.from(existing).toString().startsWith('signed manifest'),
    });
    assert.deepEqual(accepted, first);
    const other = await store.put('case.tar', Buffer.from('another archive'), { acceptExisting: () => false });
    assert.notEqual(other.location, first.location);
    assert.equal(Buffer.from(await store.get(first.location)).toString(), 'signed manifest + token 1');
  });
});
