// RFC 3161 timestamps: a token from a timestamp authority (TSA) over the exact manifest.sig bytes proves the signed
// manifest existed at the token's time, vouched for by someone other than the operator. Requests and checks use
// pkijs; the checks are done here by hand because pkijs's TimeStampResp.verify does not validate the TSA's chain.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SHA1 = '1.3.14.3.2.26';
const OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
const OID_SIGNING_CERTIFICATE = '1.2.840.113549.1.9.16.2.12';
const OID_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
const HASH_BY_OID: Record<string, string> = {
  [OID_SHA1]: 'sha1',
  [OID_SHA256]: 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export class TimestampUnavailableError extends Error {}

/** The operator's TSA settings. */
export interface TimestampAuthority {
  /** RFC 3161 endpoint. */
  url: string;
  /** DER certificates of the TSA's trusted roots: every token is checked against them before it is stored. */
  roots: Uint8Array[];
  /** `false`: a TSA that cannot be reached leaves the archive without timestamp (format v1) instead of failing. */
  required: boolean;
  timeoutMs?: number;
}

export interface TimestampRequestOptions {
  /** The TSA's RFC 3161 endpoint, e.g. https://tsa.example/api/v1/timestamp */
  url: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Asks the TSA for a token over `data` (SHA-256 imprint, a fresh nonce, the TSA's certificate requested) and returns
 * the token's DER (a CMS ContentInfo, what `openssl ts -reply -token_out` writes). Throws TimestampUnavailableError
 * when the TSA cannot be reached or refuses, and a plain Error when its answer is not a token for this request.
 */
export async function requestTimestamp(data: Uint8Array, opts: TimestampRequestOptions): Promise<Uint8Array> {
  const nonce = randomBytes(8);
  // DER wants the shortest encoding of a positive INTEGER: top bit clear, and no zero first byte (then the value would
  // fit in fewer bytes). A TSA decoding strictly (sigstore's, Go's encoding/asn1) answers HTTP 400 to anything else,
  // which a first byte of only `& 0x7f` produced for 1 request in 256. 0x40–0x7f keeps 62 random bits.
  nonce[0] = ((nonce[0] ?? 0) & 0x3f) | 0x40;
  const request = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID_SHA256 }),
      hashedMessage: new asn1js.OctetString({ valueHex: sha256(data) }),
    }),
    nonce: new asn1js.Integer({ valueHex: nonce }),
    certReq: true,
  });
  const body = new Uint8Array(request.toSchema().toBER(false));
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new TimestampUnavailableError(`the timestamp authority ${opts.url} cannot be reached: ${describe(err)}`);
  }
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
    throw new TimestampUnavailableError(`the timestamp authority ${opts.url} answered HTTP ${res.status} ${text}`);
  }
  const reply = new Uint8Array(await res.arrayBuffer());
  let resp: pkijs.TimeStampResp;
  try {
    resp = pkijs.TimeStampResp.fromBER(reply);
  } catch {
    throw new Error(`the timestamp authority ${opts.url} answered something that is not an RFC 3161 response`);
  }
  // 0 granted, 1 grantedWithMods; anything else is a refusal with a reason.
  const status = resp.status.status;
  if ((status !== 0 && status !== 1) || !resp.timeStampToken) {
    const text = resp.status.statusStrings?.map((s) => s.valueBlock.value).join('; ');
    throw new TimestampUnavailableError(
      `the timestamp authority ${opts.url} refused the request (status ${status}${text ? `: ${text}` : ''})`,
    );
  }
  const token = new Uint8Array(resp.timeStampToken.toSchema().toBER(false));
  const info = parseToken(token).tstInfo;
  if (!sameBytes(info.messageImprint.hashedMessage.valueBlock.valueHexView, sha256(data))) {
    throw new Error(`the timestamp authority ${opts.url} returned a token over other data`);
  }
  if (!info.nonce || !sameBytes(info.nonce.valueBlock.valueHexView, nonce)) {
    throw new Error(`the timestamp authority ${opts.url} returned a token without our nonce (a replayed answer?)`);
  }
  return token;
}

export interface TimestampVerification {
  ok: boolean;
  detail: string;
  /** The TSA's time, when the token could be read. */
  genTime?: Date;
  /** The signing certificate's subject, when the token could be read. */
  tsa?: string;
}

/**
 * Checks a token over `data`: the imprint is the data's hash, the CMS signature is valid, the signer's certificate
 * names the timeStamping purpose (critical and alone, RFC 3161 §2.3), the token's ESS signing-certificate attribute
 * names that certificate, and, with `trustedRoots`, the chain leads to one of them at the token's time. Without
 * roots only the signature and imprint are checked (the TSA is then NOT pinned, which the detail says).
 */
export async function verifyTimestampToken(
  token: Uint8Array,
  data: Uint8Array,
  trustedRoots?: readonly Uint8Array[],
): Promise<TimestampVerification> {
  let parsed: ReturnType<typeof parseToken>;
  try {
    parsed = parseToken(token);
  } catch (err) {
    return { ok: false, detail: `not an RFC 3161 token: ${describe(err)}` };
  }
  const { signedData, tstInfo } = parsed;
  const genTime = tstInfo.genTime;
  const fail = (detail: string, tsa?: string): TimestampVerification => ({
    ok: false,
    detail,
    genTime,
    ...(tsa ? { tsa } : {}),
  });

  const hashName = HASH_BY_OID[tstInfo.messageImprint.hashAlgorithm.algorithmId];
  if (!hashName || hashName === 'sha1') {
    return fail(`the token's imprint uses ${hashName ?? tstInfo.messageImprint.hashAlgorithm.algorithmId}, not SHA-2`);
  }
  const digest = createHash(hashName).update(data).digest();
  if (!sameBytes(tstInfo.messageImprint.hashedMessage.valueBlock.valueHexView, digest)) {
    return fail('the token is over other data (its imprint is not the hash of manifest.sig)');
  }

  let roots: pkijs.Certificate[];
  try {
    roots = (trustedRoots ?? []).map((der) => pkijs.Certificate.fromBER(der));
  } catch (err) {
    return fail(`a trusted TSA root is not a certificate: ${describe(err)}`);
  }
  let result: pkijs.SignedDataVerifyResult;
  try {
    result = await signedData.verify({
      signer: 0,
      data: toArrayBuffer(data),
      trustedCerts: roots,
      checkChain: roots.length > 0,
      extendedMode: true,
    });
  } catch (err) {
    const e = err as pkijs.SignedDataVerifyError;
    const signer = e.signerCertificate ? subjectOf(e.signerCertificate) : undefined;
    return fail(`the token does not verify: ${e.message || describe(err)}`, signer);
  }
  const signerCert = result.signerCertificate;
  if (!signerCert) return fail('the token names no signing certificate');
  const tsa = subjectOf(signerCert);
  // extendedMode reports a bad signature in a field instead of throwing.
  if (result.signatureVerified !== true) return fail('the token signature is INVALID', tsa);

  const eku = signerCert.extensions?.find((x) => x.extnID === OID_EXT_KEY_USAGE);
  const purposes = eku?.parsedValue instanceof pkijs.ExtKeyUsage ? eku.parsedValue.keyPurposes : [];
  if (!eku?.critical || purposes.length !== 1 || purposes[0] !== OID_TIME_STAMPING) {
    return fail(
      `the signing certificate (${tsa}) is not a timestamping certificate: its extended key usage must be ` +
        `critical and only timeStamping (has ${eku ? `${eku.critical ? 'critical ' : ''}${purposes.join(', ') || 'none'}` : 'none'})`,
      tsa,
    );
  }
  const ess = checkSigningCertificateAttribute(signedData, signerCert);
  if (ess) return fail(ess, tsa);

  if (roots.length === 0) {
    return {
      ok: true,
      detail: `valid token from ${tsa} at ${genTime.toISOString()}; TSA not pinned — pass its root certificate to check the chain`,
      genTime,
      tsa,
    };
  }
  const path = result.certificatePath.map(subjectOf).join(' ← ');
  return {
    ok: true,
    detail: `valid token from ${tsa} at ${genTime.toISOString()} (chain ${path || tsa})`,
    genTime,
    tsa,
  };
}

/** The time a token names, without checking it (for status and logs after a full verification). */
export function timestampTime(token: Uint8Array): Date {
  return parseToken(token).tstInfo.genTime;
}

/** Reads PEM certificates (one or several) or one DER certificate; returns each certificate's DER. */
export function parseCertificates(text: Uint8Array): Uint8Array[] {
  const s = Buffer.from(text).toString('latin1');
  if (!s.includes('-----BEGIN')) {
    new X509Certificate(Buffer.from(text)); // throws when it is not one DER certificate
    return [new Uint8Array(text)];
  }
  const blocks = s.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate in it');
  return blocks.map((pem) => new Uint8Array(new X509Certificate(pem).raw));
}

function parseToken(token: Uint8Array): { signedData: pkijs.SignedData; tstInfo: pkijs.TSTInfo } {
  const contentInfo = pkijs.ContentInfo.fromBER(token);
  if (contentInfo.contentType !== OID_SIGNED_DATA) throw new Error('not a CMS SignedData');
  const signedData = new pkijs.SignedData({ schema: contentInfo.content });
  if (signedData.encapContentInfo.eContentType !== OID_TST_INFO || !signedData.encapContentInfo.eContent) {
    throw new Error('the SignedData does not hold a TSTInfo');
  }
  if (signedData.signerInfos.length !== 1) throw new Error(`${signedData.signerInfos.length} signers, expected 1`);
  const tstInfo = pkijs.TSTInfo.fromBER(signedData.encapContentInfo.eContent.getValue());
  return { signedData, tstInfo };
}

/**
 * RFC 3161 requires the ESS signing-certificate attribute (RFC 2634 / RFC 5035): it binds the signature to the
 * certificate, so a token cannot be re-attributed to another certificate with the same key. Returns a problem or
 * undefined.
 */
function checkSigningCertificateAttribute(signedData: pkijs.SignedData, cert: pkijs.Certificate): string | undefined {
  const attrs = signedData.signerInfos[0]?.signedAttrs?.attributes ?? [];
  const attr = attrs.find((a) => a.type === OID_SIGNING_CERTIFICATE_V2 || a.type === OID_SIGNING_CERTIFICATE);
  if (!attr) return 'the token lacks the signing-certificate attribute';
  const der = Buffer.from(cert.toSchema().toBER(false));
  try {
    const signingCertificate = attr.values[0];
    const certs = signingCertificate instanceof asn1js.Sequence ? signingCertificate.valueBlock.value[0] : undefined;
    const first = certs instanceof asn1js.Sequence ? certs.valueBlock.value[0] : undefined;
    if (!(first instanceof asn1js.Sequence)) return 'the signing-certificate attribute is malformed';
    const fields = first.valueBlock.value;
    let hash = attr.type === OID_SIGNING_CERTIFICATE ? 'sha1' : 'sha256';
    let certHash = fields[0];
    if (attr.type === OID_SIGNING_CERTIFICATE_V2 && fields[0] instanceof asn1js.Sequence) {
      const alg = new pkijs.AlgorithmIdentifier({ schema: fields[0] });
      hash = HASH_BY_OID[alg.algorithmId] ?? '';
      certHash = fields[1];
    }
    if (!hash || !(certHash instanceof asn1js.OctetString)) return 'the signing-certificate attribute is malformed';
    const expected = createHash(hash).update(der).digest();
    if (!sameBytes(certHash.valueBlock.valueHexView, expected)) {
      return 'the signing-certificate attribute names another certificate than the one that signed';
    }
    return undefined;
  } catch {
    return 'the signing-certificate attribute is malformed';
  }
}

function subjectOf(cert: pkijs.Certificate): string {
  return cert.subject.typesAndValues
    .map((tv) => `${SHORT_NAMES[tv.type] ?? tv.type}=${String(tv.value.valueBlock.value)}`)
    .join(', ');
}
const SHORT_NAMES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C' };

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function toArrayBuffer(data: Uint8Array): ArrayBuffer {
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
