import {
  constants,
  createCipheriv,
  createHash,
  type KeyObject,
  publicEncrypt,
  randomBytes,
  X509Certificate,
} from 'node:crypto';

/**
 * Sealing compatible with bitnami sealed-secrets v0.36.0, so the real controller can unseal what the operator seals
 * without the operator ever holding the private key or keeping plaintext.
 * Format source: pkg/crypto/crypto.go (HybridEncrypt) and pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go.
 */

export type SealingScope = 'strict' | 'namespace-wide' | 'cluster-wide';
export const SEALING_SCOPES: readonly SealingScope[] = ['strict', 'namespace-wide', 'cluster-wide'];

export const SEALED_SECRET_API_VERSION = 'bitnami.com/v1alpha1';
export const SEALED_SECRET_KIND = 'SealedSecret';
export const NAMESPACE_WIDE_ANNOTATION = 'sealedsecrets.bitnami.com/namespace-wide';
export const CLUSTER_WIDE_ANNOTATION = 'sealedsecrets.bitnami.com/cluster-wide';

// kubeseal strips these because they hold a full copy of the input Secret, i.e. the plaintext.
const LAST_APPLIED_ANNOTATIONS = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'kubecfg.ksonnet.io/last-applied-configuration',
];

const SESSION_KEY_BYTES = 32;
const GCM_NONCE_BYTES = 12;
// Below this, RSA no longer protects a long-lived key; the controller itself defaults to 4096.
const MIN_RSA_MODULUS_BITS = 2048;

/** The sealing certificate could not be used; the message says what to do about it. */
export class SealingCertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealingCertError';
  }
}

/** A parsed and checked controller certificate, reusable for sealing many values. */
export interface SealingCert {
  readonly publicKey: KeyObject;
  readonly subject: string;
  readonly notAfter: Date;
  readonly modulusBits: number;
  /** Same string as sealed-secrets' PublicKeyFingerprint (ssh.FingerprintSHA256): `SHA256:<unpadded base64>`. */
  readonly fingerprint: string;
}

const HOW_TO_GET_CERT =
  "use the sealed-secrets controller's public certificate (GET /v1/cert.pem on the controller, " +
  '`kubeseal --fetch-cert`, or tls.crt of its active sealed-secrets-key Secret)';

/**
 * Parses the first CERTIFICATE block of a PEM bundle, as kubeseal does, and refuses what kubeseal would refuse
 * (a non-RSA key, an expired certificate) plus RSA keys too small to be trusted.
 */
export function parseSealingCert(certPem: string | Buffer, now: Date = new Date()): SealingCert {
  const text = typeof certPem === 'string' ? certPem : certPem.toString('utf8');
  const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text)?.[0];
  if (block === undefined) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
      throw new SealingCertError(
        `sealing certificate: got a PRIVATE KEY, not a certificate; never hand the controller's private key to the operator, ${HOW_TO_GET_CERT}`,
      );
    }
    throw new SealingCertError(
      `sealing certificate: no "-----BEGIN CERTIFICATE-----" PEM block found (${describeInput(text)}); ${HOW_TO_GET_CERT}`,
    );
  }

  let cert: X509Certificate;
  try {
    cert = new X509Certificate(block);
  } catch (err) {
    throw new SealingCertError(
      `sealing certificate: the CERTIFICATE block is not a valid X.509 certificate (${(err as Error).message}); ${HOW_TO_GET_CERT}`,
    );
  }

  const publicKey = cert.publicKey;
  const keyType = publicKey.asymmetricKeyType;
  if (keyType !== 'rsa') {
    throw new SealingCertError(
      `sealing certificate "${cert.subject}" has a ${keyType ?? 'unknown'} public key; sealed-secrets only seals with RSA keys, ${HOW_TO_GET_CERT}`,
    );
  }
  const modulusBits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (modulusBits < MIN_RSA_MODULUS_BITS) {
    throw new SealingCertError(
      `sealing certificate "${cert.subject}" has a ${modulusBits}-bit RSA key; at least ${MIN_RSA_MODULUS_BITS} bits are required (the controller's --key-size defaults to 4096)`,
    );
  }
  const notAfter = cert.validToDate;
  if (now.getTime() > notAfter.getTime()) {
    throw new SealingCertError(
      `sealing certificate "${cert.subject}" expired on ${notAfter.toISOString()}; secrets sealed with it may never be unsealed. ` +
        `Fetch the controller's current certificate (it renews keys every --key-renew-period) and check the controller is running`,
    );
  }

  return { publicKey, subject: cert.subject, notAfter, modulusBits, fingerprint: rsaSshFingerprint(publicKey) };
}

/** Fingerprint of the certificate's public key, identical to the one the sealed-secrets controller uses for its keys. */
export function certFingerprint(certPem: string | Buffer, now: Date = new Date()): string {
  return parseSealingCert(certPem, now).fingerprint;
}

/** The RSA-OAEP label that binds a ciphertext to where it may be unsealed (EncryptionLabel in the Go code). */
export function encryptionLabel(namespace: string, name: string, scope: SealingScope): Buffer {
  switch (scope) {
    case 'cluster-wide':
      return Buffer.alloc(0);
    case 'namespace-wide':
      return Buffer.from(namespace, 'utf8');
    case 'strict':
      return Buffer.from(`${namespace}/${name}`, 'utf8');
  }
}

/**
 * Hybrid-encrypts one value: a fresh 32-byte AES-256-GCM key (zero nonce is safe because the key is used once),
 * wrapped with RSA-OAEP-SHA256 under `label`. Output: base64(uint16be(len(rsa)) ‖ rsa ‖ aes ciphertext ‖ tag).
 */
export function sealValue(cert: string | Buffer | SealingCert, value: Buffer, label: Buffer): string {
  const { publicKey } = isSealingCert(cert) ? cert : parseSealingCert(cert);
  const sessionKey = randomBytes(SESSION_KEY_BYTES);
  try {
    const rsaCiphertext = publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
      sessionKey,
    );
    const cipher = createCipheriv('aes-256-gcm', sessionKey, Buffer.alloc(GCM_NONCE_BYTES));
    const aesCiphertext = Buffer.concat([cipher.update(value), cipher.final(), cipher.getAuthTag()]);
    const lengthPrefix = Buffer.alloc(2);
    lengthPrefix.writeUInt16BE(rsaCiphertext.length);
    return Buffer.concat([lengthPrefix, rsaCiphertext, aesCiphertext]).toString('base64');
  } finally {
    sessionKey.fill(0);
  }
}

export interface SealedSecretInput {
  name: string;
  namespace: string;
  scope: SealingScope;
  /** The controller's PEM certificate, or one already parsed with parseSealingCert. */
  certPem: string | Buffer | SealingCert;
  /** Raw secret values; strings are sealed as their UTF-8 bytes (like stringData), never base64 first. */
  data: Record<string, Buffer | string>;
  /** Secret type of the unsealed Secret; defaults to Opaque. */
  type?: string;
  immutable?: boolean;
  /** Put on both the SealedSecret and the Secret the controller creates from it. */
  labels?: Record<string, string>;
  /** Put on both objects; scope annotations are always rewritten to match `scope`. */
  annotations?: Record<string, string>;
  /** Clock for the certificate expiry check. */
  now?: Date;
}

export interface SealedSecretMetadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SealedSecret {
  apiVersion: typeof SEALED_SECRET_API_VERSION;
  kind: typeof SEALED_SECRET_KIND;
  metadata: SealedSecretMetadata;
  spec: {
    encryptedData: Record<string, string>;
    template: { metadata: SealedSecretMetadata; type: string; immutable?: boolean };
  };
}

/**
 * Builds the SealedSecret kubeseal would produce for the equivalent Secret. The controller derives the unseal label
 * from the SealedSecret's own metadata, so the scope annotation there must match the label each value was sealed with.
 */
export function buildSealedSecret(input: SealedSecretInput): SealedSecret {
  const { name, namespace, scope } = input;
  assertDnsSubdomain('SealedSecret name', name);
  assertDnsLabel('SealedSecret namespace', namespace);
  if (!SEALING_SCOPES.includes(scope)) {
    throw new Error(`unknown sealing scope "${String(scope)}": must be one of ${SEALING_SCOPES.join(', ')}`);
  }
  const keys = Object.keys(input.data).sort();
  if (keys.length === 0) {
    throw new Error(`SealedSecret ${namespace}/${name}: no data to seal`);
  }
  for (const key of keys) assertSecretKey(`SealedSecret ${namespace}/${name}`, key);

  const cert = isSealingCert(input.certPem) ? input.certPem : parseSealingCert(input.certPem, input.now);
  const label = encryptionLabel(namespace, name, scope);
  const encryptedData: Record<string, string> = {};
  for (const key of keys) {
    const value = input.data[key]!;
    encryptedData[key] = sealValue(cert, typeof value === 'string' ? Buffer.from(value, 'utf8') : value, label);
  }

  const annotations = withScopeAnnotations(input.annotations, scope);
  const metadata = (): SealedSecretMetadata => ({
    name,
    namespace,
    ...(input.labels && Object.keys(input.labels).length > 0 ? { labels: { ...input.labels } } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}),
  });

  return {
    apiVersion: SEALED_SECRET_API_VERSION,
    kind: SEALED_SECRET_KIND,
    metadata: metadata(),
    spec: {
      encryptedData,
      template: {
        metadata: metadata(),
        type: input.type ?? 'Opaque',
        ...(input.immutable !== undefined ? { immutable: input.immutable } : {}),
      },
    },
  };
}

// Mirrors UpdateScopeAnnotations: strict is the absence of both annotations.
function withScopeAnnotations(source: Record<string, string> | undefined, scope: SealingScope): Record<string, string> {
  const out: Record<string, string> = { ...source };
  delete out[NAMESPACE_WIDE_ANNOTATION];
  delete out[CLUSTER_WIDE_ANNOTATION];
  for (const key of LAST_APPLIED_ANNOTATIONS) delete out[key];
  if (scope === 'namespace-wide') out[NAMESPACE_WIDE_ANNOTATION] = 'true';
  if (scope === 'cluster-wide') out[CLUSTER_WIDE_ANNOTATION] = 'true';
  return out;
}

function isSealingCert(value: string | Buffer | SealingCert): value is SealingCert {
  return typeof value === 'object' && !Buffer.isBuffer(value) && 'publicKey' in value;
}

// ssh wire format of an RSA key is string("ssh-rsa") ‖ mpint(e) ‖ mpint(n); Go's ssh.FingerprintSHA256 hashes that.
function rsaSshFingerprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') {
    throw new SealingCertError('sealing certificate: RSA public key has no modulus/exponent');
  }
  const wire = Buffer.concat([
    sshString(Buffer.from('ssh-rsa', 'ascii')),
    sshString(mpint(Buffer.from(jwk.e, 'base64url'))),
    sshString(mpint(Buffer.from(jwk.n, 'base64url'))),
  ]);
  return `SHA256:${createHash('sha256').update(wire).digest('base64').replace(/=+$/, '')}`;
}

function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

// Positive big-endian integer, minimal length, with a 0x00 in front when the top bit would read as a sign.
function mpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  if (trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0) return Buffer.concat([Buffer.from([0]), trimmed]);
  return trimmed;
}

// Never echo the input itself: a misplaced secret must not end up in an error message or a log line.
function describeInput(text: string): string {
  if (text.trim().length === 0) return 'input is empty';
  const pemType = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (pemType !== undefined) return `input holds a "${pemType}" PEM block`;
  return `input is ${Buffer.byteLength(text, 'utf8')} bytes without any PEM header`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function assertDnsLabel(what: string, value: string): void {
  if (value.length === 0 || value.length > 63 || !DNS_LABEL.test(value)) {
    throw new Error(`${what} "${value}" is not a DNS-1123 label (lowercase alphanumerics and '-', at most 63 chars)`);
  }
}

function assertDnsSubdomain(what: string, value: string): void {
  if (value.length === 0 || value.length > 253 || !value.split('.').every((part) => DNS_LABEL.test(part))) {
    throw new Error(`${what} "${value}" is not a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.')`);
  }
}

// Same rule as Kubernetes' IsConfigMapKey, so the controller can create the Secret it unseals.
function assertSecretKey(where: string, key: string): void {
  if (key.length === 0 || key.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(key) || key === '.' || key.startsWith('..')) {
    throw new Error(
      `${where}: data key "${key}" is not a valid Secret key (alphanumerics, '-', '_', '.', not '.' or starting with '..')`,
    );
  }
}
