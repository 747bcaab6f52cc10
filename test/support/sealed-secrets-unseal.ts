import { constants, createDecipheriv, createPrivateKey, type KeyObject, privateDecrypt } from 'node:crypto';

/**
 * Test-only inverse of sealValue, written from sealed-secrets' HybridDecrypt (pkg/crypto/crypto.go). The operator
 * itself never decrypts: it never holds the controller's private key.
 */
export function unsealValue(privateKey: KeyObject | string | Buffer, encrypted: string, label: Buffer): Buffer {
  const key = typeof privateKey === 'string' || Buffer.isBuffer(privateKey) ? createPrivateKey(privateKey) : privateKey;
  const blob = Buffer.from(encrypted, 'base64');
  if (blob.length < 2) throw new Error('SealedSecret data is too short');
  const rsaLength = blob.readUInt16BE(0);
  if (blob.length < rsaLength + 2) throw new Error('SealedSecret data is too short');
  const sessionKey = privateDecrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
    blob.subarray(2, rsaLength + 2),
  );
  const aes = blob.subarray(rsaLength + 2);
  if (aes.length < 16) throw new Error('AES-GCM ciphertext has no tag');
  const decipher = createDecipheriv('aes-256-gcm', sessionKey, Buffer.alloc(12));
  decipher.setAuthTag(aes.subarray(aes.length - 16));
  return Buffer.concat([decipher.update(aes.subarray(0, aes.length - 16)), decipher.final()]);
}
