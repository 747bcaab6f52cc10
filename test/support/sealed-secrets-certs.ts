import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

/**
 * Self-signed X.509 certificates built in-process, so unit tests can make certs that openssl makes awkward
 * (already expired, EC keys, small RSA keys) without any external tool.
 */

export interface TestKeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export function rsaKeyPair(modulusLength: number): TestKeyPair {
  return generateKeyPairSync('rsa', { modulusLength });
}

export function ecKeyPair(): TestKeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

export interface SelfSignedOptions {
  commonName?: string;
  notBefore?: Date;
  notAfter?: Date;
}

export function selfSignedCertPem(keys: TestKeyPair, options: SelfSignedOptions = {}): string {
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = options.notAfter ?? new Date(Date.now() + 365 * 24 * 3600_000);
  const isRsa = keys.privateKey.asymmetricKeyType === 'rsa';
  // sha256WithRSAEncryption (with NULL parameters) or ecdsa-with-SHA256 (no parameters)
  const signatureAlgorithm = isRsa
    ? seq(oid([1, 2, 840, 113549, 1, 1, 11]), Buffer.from([0x05, 0x00]))
    : seq(oid([1, 2, 840, 10045, 4, 3, 2]));
  const name = seq(set(seq(oid([2, 5, 4, 3]), tlv(0x0c, Buffer.from(options.commonName ?? 'sealed-secret', 'utf8')))));
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(Buffer.from([0x01, 0x23, 0x45, 0x67])),
    signatureAlgorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    keys.publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, keys.privateKey);
  const der = seq(tbs, signatureAlgorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${body.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

export function privateKeyPem(keys: TestKeyPair): string {
  return keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function tlv(tag: number, content: Buffer): Buffer {
  let length: Buffer;
  if (content.length < 0x80) {
    length = Buffer.from([content.length]);
  } else {
    const bytes: number[] = [];
    for (let n = content.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const integer = (unsigned: Buffer) =>
  tlv(0x02, (unsigned[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), unsigned]) : unsigned);

function oid(arcs: number[]): Buffer {
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = arc >> 7; n > 0; n >>= 7) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

// RFC 5280: UTCTime up to 2049, GeneralizedTime from 2050.
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}
