// The operator's ed25519 evidence-signing key (node:crypto only). The private key lives in a PEM PKCS#8 file with
// mode 0600; it is never logged or returned in a printable form by this module.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { link, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, writeDurableTemp } from './durable-file.ts';

/** Loads the signing key at `path`, creating it (and its directory) when absent: 0600, atomically, never overwriting. */
export async function loadOrCreateSigningKey(path: string): Promise<KeyObject> {
  const existing = await readKeyFile(path);
  if (existing) return existing;
  // A fresh evidence volume (or a local run) may not have the key's directory yet.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const tmp = await writeDurableTemp(path, pem);
  try {
    // link() fails when the key appeared meanwhile (another replica): then the existing key wins.
    await link(tmp, path);
    await fsyncDir(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  const key = await readKeyFile(path);
  if (!key) throw new Error(`signing key ${path} vanished after it was created`);
  return key;
}

/**
 * Loads an existing signing key and never creates one: with several replicas (the S3 store) every replica must sign
 * with the same key, which therefore comes from a Secret, not from whichever replica started first.
 */
export async function loadSigningKey(path: string): Promise<KeyObject> {
  const key = await readKeyFile(path);
  if (!key) throw new Error(`signing key ${path} does not exist (mount the signing-key Secret there)`);
  return key;
}

async function readKeyFile(path: string): Promise<KeyObject | undefined> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read signing key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // Group bits are tolerated: a Secret volume with an fsGroup is made group-readable by the kubelet.
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o007) !== 0) {
    throw new Error(`signing key ${path} is accessible to others (mode ${mode.toString(8)}); chmod 600 it`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // The parser's message could quote key material: keep it out.
    throw new Error(`signing key ${path} is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`signing key ${path} is ${key.asymmetricKeyType}, expected ed25519`);
  }
  return key;
}

export function publicKeyOf(key: KeyObject): KeyObject {
  return key.type === 'public' ? key : createPublicKey(key);
}

/** Base64 of the SPKI DER public key: the form the manifest embeds. */
export function publicKeyBase64(key: KeyObject): string {
  return publicKeyOf(key).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** The key's fingerprint: hex sha256 of its SPKI DER. */
export function keyId(key: KeyObject): string {
  return createHash('sha256')
    .update(publicKeyOf(key).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** Parses a public key given as PEM (SPKI or a private key, whose public half is used) or base64 SPKI DER. */
export function parsePublicKey(text: string | KeyObject): KeyObject {
  if (text instanceof KeyObject) return publicKeyOf(text);
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) {
      key = trimmed.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(trimmed)) : createPublicKey(trimmed);
    } else {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new Error('not base64');
      key = createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
    }
  } catch {
    throw new Error('public key is neither PEM nor base64 SPKI DER');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`public key is ${key.asymmetricKeyType}, expected ed25519`);
  return key;
}

/** Signs the exact manifest.json bytes; returns the 64-byte ed25519 signature. */
export function signManifest(manifestBytes: Uint8Array, key: KeyObject): Uint8Array {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')
    throw new Error('signing needs an ed25519 private key');
  return new Uint8Array(sign(null, manifestBytes, key));
}

export function verifyManifestSignature(
  manifestBytes: Uint8Array,
  signature: Uint8Array,
  publicKey: KeyObject | string,
): boolean {
  try {
    return verify(null, manifestBytes, parsePublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

/** manifest.sig holds base64 of the signature and a newline; only that exact form is accepted. */
export function encodeSignatureFile(signature: Uint8Array): Uint8Array {
  return Buffer.from(`${Buffer.from(signature).toString('base64')}\n`, 'utf8');
}

export function decodeSignatureFile(bytes: Uint8Array): Uint8Array | undefined {
  const text = Buffer.from(bytes).toString('latin1');
  if (!text.endsWith('\n')) return undefined;
  const b64 = text.slice(0, -1);
  const sig = Buffer.from(b64, 'base64');
  // Node's base64 decoder skips junk and ignores unused bits: insist on the canonical encoding.
  if (sig.length !== 64 || sig.toString('base64') !== b64) return undefined;
  return new Uint8Array(sig);
}
