// RFC 3161 token checks against tokens made by real TSAs (openssl's `ts -reply`), and against tokens openssl refuses
// to make (a signer certificate without the timeStamping purpose), built here with pkijs: the verifier must reject
// those itself, since pkijs's own TimeStampResp.verify checks neither the chain nor the purpose.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  parseCertificates,
  requestTimestamp,
  TimestampUnavailableError,
  timestampTime,
  verifyTimestampToken,
} from '../../../src/evidence/timestamp.ts';
import { makeTsaChain, opensslTimestamp, type TsaChain } from '../../support/timestamp-authority.ts';
import { cleanup, tempDir } from './fixtures.ts';

let dir: string;
let alpha: TsaChain;
let beta: TsaChain;
const data = new TextEncoder().encode('c2lnbmF0dXJl\n');

before(async () => {
  dir = await tempDir('wr-tsa-');
  [alpha, beta] = await Promise.all([
    makeTsaChain(join(dir, 'alpha'), 'alpha'),
    makeTsaChain(join(dir, 'beta'), 'beta'),
  ]);
  await writeFile(join(dir, 'data'), data);
});
after(cleanup);

const roots = async (chain: TsaChain) => parseCertificates(await readFile(chain.rootPem));

async function opensslToken(chain: TsaChain): Promise<Uint8Array> {
  const out = join(dir, `${chain.dir.split('/').pop()}-${Math.random().toString(36).slice(2)}.tsr`);
  await opensslTimestamp(chain, join(dir, 'data'), out);
  return new Uint8Array(await readFile(out));
}

/** A token signed by `chain`'s leaf however its certificate looks, optionally with the ESS signing-certificate. */
async function pkijsToken(chain: TsaChain, opts: { ess: boolean }): Promise<Uint8Array> {
  const pem = (f: string) => readFile(f, 'utf8');
  const leaf = pkijs.Certificate.fromBER(parseCertificates(Buffer.from(await pem(chain.leafPem)))[0]!);
  const intermediate = pkijs.Certificate.fromBER(parseCertificates(Buffer.from(await pem(chain.intermediatePem)))[0]!);
  const pkcs8 = createPrivateKey(await pem(chain.leafKey)).export({ type: 'pkcs8', format: 'der' });
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const sha256 = (b: Uint8Array | ArrayBuffer) => createHash('sha256').update(new Uint8Array(b)).digest();
  const tstInfo = new pkijs.TSTInfo({
    version: 1,
    policy: '1.3.6.1.4.1.57264.2',
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.1' }),
      hashedMessage: new asn1js.OctetString({ valueHex: sha256(data) }),
    }),
    serialNumber: new asn1js.Integer({ value: 7 }),
    genTime: new Date(Math.floor(Date.now() / 1000) * 1000),
  });
  const content = tstInfo.toSchema().toBER(false);
  const attributes = [
    new pkijs.Attribute({
      type: '1.2.840.113549.1.9.3',
      values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.16.1.4' })],
    }),
    new pkijs.Attribute({
      type: '1.2.840.113549.1.9.4',
      values: [new asn1js.OctetString({ valueHex: sha256(content) })],
    }),
  ];
  if (opts.ess) {
    const certHash = sha256(leaf.toSchema().toBER(false));
    // SigningCertificateV2 { certs: [ ESSCertIDv2 { certHash } ] } (hash algorithm: the SHA-256 default).
    const ess = new asn1js.Sequence({
      value: [
        new asn1js.Sequence({
          value: [new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: certHash })] })],
        }),
      ],
    });
    attributes.push(new pkijs.Attribute({ type: '1.2.840.113549.1.9.16.2.47', values: [ess] }));
  }
  const signedData = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: '1.2.840.113549.1.9.16.1.4',
      eContent: new asn1js.OctetString({ valueHex: content }),
    }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: leaf.issuer, serialNumber: leaf.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes }),
      }),
    ],
    certificates: [leaf, intermediate],
  });
  await signedData.sign(key, 0, 'SHA-256');
  const info = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: signedData.toSchema(true) });
  return new Uint8Array(info.toSchema().toBER(false));
}

describe('RFC 3161 token verification', () => {
  it("accepts openssl's token against its own root, names the TSA and time; rejects another root and other data", async () => {
    const token = await opensslToken(alpha);
    const ok = await verifyTimestampToken(token, data, await roots(alpha));
    assert.equal(ok.ok, true, ok.detail);
    assert.equal(ok.tsa, 'O=warroom test, CN=alpha timestamping');
    assert.ok(Math.abs((ok.genTime?.getTime() ?? 0) - Date.now()) < 60_000);
    assert.equal(timestampTime(token).getTime(), ok.genTime?.getTime());
    assert.match(ok.detail, /chain O=warroom test, CN=alpha timestamping ← .*alpha intermediate ← .*alpha root/);

    const foreign = await verifyTimestampToken(token, data, await roots(beta));
    assert.equal(foreign.ok, false);
    assert.match(foreign.detail, /does not verify: Validation of signer's certificate failed/);

    const other = await verifyTimestampToken(token, new TextEncoder().encode('c2lnbmF0dXJl!\n'), await roots(alpha));
    assert.equal(other.ok, false);
    assert.match(other.detail, /over other data/);

    const unpinned = await verifyTimestampToken(token, data);
    assert.equal(unpinned.ok, true);
    assert.match(unpinned.detail, /TSA not pinned/);
  });

  it('a well-formed token (control) passes; without the ESS signing-certificate attribute it fails', async () => {
    const good = await verifyTimestampToken(await pkijsToken(alpha, { ess: true }), data, await roots(alpha));
    assert.equal(good.ok, true, good.detail);
    const noEss = await verifyTimestampToken(await pkijsToken(alpha, { ess: false }), data, await roots(alpha));
    assert.equal(noEss.ok, false);
    assert.match(noEss.detail, /lacks the signing-certificate attribute/);
  });

  it('rejects a token whose signer is not a timestamping certificate, even with a valid chain and signature', async () => {
    for (const eku of ['none', 'noncritical'] as const) {
      const chain = await makeTsaChain(join(dir, `eku-${eku}`), `eku-${eku}`, { leafEku: eku });
      const result = await verifyTimestampToken(await pkijsToken(chain, { ess: true }), data, await roots(chain));
      assert.equal(result.ok, false, `${eku}: ${result.detail}`);
      assert.match(
        result.detail,
        /is not a timestamping certificate: its extended key usage must be critical and only timeStamping/,
      );
    }
  });

  it('a changed byte in a token fails', async () => {
    const token = await opensslToken(alpha);
    const at = Buffer.from(token).indexOf(Buffer.from('alpha timestamping'));
    const tampered = new Uint8Array(token);
    tampered[at] = (tampered[at] ?? 0) ^ 0x20;
    const result = await verifyTimestampToken(tampered, data, await roots(alpha));
    assert.equal(result.ok, false, result.detail);
  });

  it('every request carries its nonce in the shortest DER encoding (a strict TSA refuses any other)', async () => {
    // Each draw of the first byte had a 1 in 256 chance of a non-minimal encoding; 2 000 draws miss it with p < 0.1 %.
    const firstBytes = new Set<number>();
    for (let i = 0; i < 2_000; i++) {
      let body: Uint8Array | undefined;
      const refuse: typeof fetch = async (_url, init) => {
        body = init?.body as Uint8Array;
        return new Response('', { status: 503 });
      };
      await assert.rejects(
        requestTimestamp(data, { url: 'http://tsa.invalid/', fetch: refuse }),
        TimestampUnavailableError,
      );
      assert.ok(body);
      const nonce = new Uint8Array(pkijs.TimeStampReq.fromBER(body).nonce?.valueBlock.valueHexView ?? []);
      assert.equal(nonce.length, 8);
      const first = nonce[0] ?? 0;
      assert.ok(first !== 0 && first < 0x80, `nonce ${Buffer.from(nonce).toString('hex')}: positive, no leading zero`);
      firstBytes.add(first);
    }
    assert.ok(firstBytes.size > 32, 'the first byte is still random');
  });
});
