import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  buildSealedSecret,
  CLUSTER_WIDE_ANNOTATION,
  certFingerprint,
  encryptionLabel,
  NAMESPACE_WIDE_ANNOTATION,
  parseSealingCert,
  SEALING_SCOPES,
  SealingCertError,
  sealValue,
} from '../../../src/crypto/sealed-secrets.ts';
import { ecKeyPair, privateKeyPem, rsaKeyPair, selfSignedCertPem } from '../../support/sealed-secrets-certs.ts';
import { unsealValue } from '../../support/sealed-secrets-unseal.ts';

const keys = rsaKeyPair(2048);
const certPem = selfSignedCertPem(keys);
const otherKeys = rsaKeyPair(2048);

describe('encryptionLabel', () => {
  it('binds strict to namespace/name, namespace-wide to the namespace, cluster-wide to nothing', () => {
    assert.equal(encryptionLabel('wr-case-1', 'synapse-secrets', 'strict').toString(), 'wr-case-1/synapse-secrets');
    assert.equal(encryptionLabel('wr-case-1', 'synapse-secrets', 'namespace-wide').toString(), 'wr-case-1');
    assert.equal(encryptionLabel('wr-case-1', 'synapse-secrets', 'cluster-wide').length, 0);
  });
});

describe('sealValue', () => {
  it('round-trips with the private key and the same label', () => {
    const value = Buffer.from('registration-secret-✓', 'utf8');
    const label = encryptionLabel('ns', 'name', 'strict');
    const sealed = sealValue(certPem, value, label);
    assert.deepEqual(unsealValue(keys.privateKey, sealed, label), value);
  });

  it('writes uint16 BE RSA length, RSA block, then AES-GCM ciphertext plus 16-byte tag, in standard padded base64', () => {
    const value = Buffer.alloc(100, 7);
    const sealed = sealValue(certPem, value, Buffer.from('ns/name'));
    assert.match(sealed, /^[A-Za-z0-9+/]+={0,2}$/);
    const blob = Buffer.from(sealed, 'base64');
    assert.equal(blob.readUInt16BE(0), 256, '2048-bit key gives a 256-byte OAEP block');
    assert.equal(blob.length, 2 + 256 + value.length + 16);
  });

  it('fails to decrypt with any other label, so a ciphertext cannot be moved to another name or namespace', () => {
    const value = Buffer.from('s3cret');
    const sealed = sealValue(certPem, value, encryptionLabel('ns', 'name', 'strict'));
    for (const wrong of [
      encryptionLabel('ns', 'other', 'strict'),
      encryptionLabel('other', 'name', 'strict'),
      encryptionLabel('ns', 'name', 'namespace-wide'),
      encryptionLabel('ns', 'name', 'cluster-wide'),
    ]) {
      assert.throws(() => unsealValue(keys.privateKey, sealed, wrong), `label "${wrong.toString()}" must not decrypt`);
    }
  });

  it('fails to decrypt with another private key', () => {
    const label = Buffer.from('ns/name');
    const sealed = sealValue(certPem, Buffer.from('x'), label);
    assert.throws(() => unsealValue(otherKeys.privateKey, sealed, label));
  });

  it('uses a fresh session key each time: sealing the same value twice gives different ciphertexts', () => {
    const label = Buffer.from('ns/name');
    const a = sealValue(certPem, Buffer.from('same'), label);
    const b = sealValue(certPem, Buffer.from('same'), label);
    assert.notEqual(a, b);
    assert.notEqual(
      Buffer.from(a, 'base64').subarray(258).toString('hex'),
      Buffer.from(b, 'base64').subarray(258).toString('hex'),
    );
  });

  it('seals empty and binary values', () => {
    const label = Buffer.alloc(0);
    const binary = Buffer.from([0, 255, 1, 254, 0, 0, 10, 13]);
    assert.deepEqual(unsealValue(keys.privateKey, sealValue(certPem, Buffer.alloc(0), label), label), Buffer.alloc(0));
    assert.deepEqual(unsealValue(keys.privateKey, sealValue(certPem, binary, label), label), binary);
  });

  it('accepts an already parsed cert', () => {
    const cert = parseSealingCert(certPem);
    const label = Buffer.from('ns');
    assert.equal(unsealValue(keys.privateKey, sealValue(cert, Buffer.from('v'), label), label).toString(), 'v');
  });

  it('detects tampering with the AES part', () => {
    const label = Buffer.from('ns/name');
    const blob = Buffer.from(sealValue(certPem, Buffer.from('payload'), label), 'base64');
    blob[blob.length - 20]! ^= 1;
    assert.throws(() => unsealValue(keys.privateKey, blob.toString('base64'), label));
  });
});

describe('parseSealingCert', () => {
  it('reads subject, expiry, key size and the controller-compatible fingerprint', () => {
    const notAfter = new Date('2035-06-01T12:00:00Z');
    const cert = parseSealingCert(selfSignedCertPem(keys, { commonName: 'sealed-secret', notAfter }));
    assert.equal(cert.subject, 'CN=sealed-secret');
    assert.equal(cert.notAfter.toISOString(), notAfter.toISOString());
    assert.equal(cert.modulusBits, 2048);
    assert.match(cert.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('takes the first certificate of a bundle, skipping other PEM blocks, like kubeseal', () => {
    const second = selfSignedCertPem(otherKeys);
    const bundle = `# served by /v1/cert.pem\n${certPem}${second}`;
    assert.equal(parseSealingCert(bundle).fingerprint, certFingerprint(certPem));
    assert.notEqual(certFingerprint(second), certFingerprint(certPem));
  });

  it('accepts a Buffer', () => {
    assert.equal(certFingerprint(Buffer.from(certPem)), certFingerprint(certPem));
  });

  it('refuses an expired certificate and says when it expired and what to do', () => {
    const expired = selfSignedCertPem(keys, {
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
    });
    assert.throws(
      () => parseSealingCert(expired),
      (err: unknown) =>
        err instanceof SealingCertError &&
        /expired on 2021-01-01T00:00:00.000Z/.test(err.message) &&
        /current certificate/.test(err.message),
    );
  });

  it('judges expiry against the injected clock', () => {
    const notAfter = new Date('2030-01-01T00:00:00Z');
    const pem = selfSignedCertPem(keys, { notAfter });
    assert.equal(parseSealingCert(pem, new Date('2029-12-31T23:59:59Z')).notAfter.getTime(), notAfter.getTime());
    assert.throws(() => parseSealingCert(pem, new Date('2030-01-01T00:00:01Z')), /expired/);
  });

  it('refuses a non-RSA certificate', () => {
    assert.throws(
      () => parseSealingCert(selfSignedCertPem(ecKeyPair())),
      (err: unknown) =>
        err instanceof SealingCertError && /has a ec public key; sealed-secrets only seals with RSA/.test(err.message),
    );
  });

  it('refuses RSA keys below 2048 bits', () => {
    assert.throws(() => parseSealingCert(selfSignedCertPem(rsaKeyPair(1024))), /1024-bit RSA key; at least 2048/);
  });

  it('refuses garbage with a message that points at where the real cert is', () => {
    for (const garbage of ['', 'not a cert at all', '{"apiVersion":"v1"}']) {
      assert.throws(
        () => parseSealingCert(garbage),
        (err: unknown) =>
          err instanceof SealingCertError && /BEGIN CERTIFICATE/.test(err.message) && /cert\.pem/.test(err.message),
      );
    }
  });

  it('refuses a corrupted certificate body', () => {
    const corrupted = certPem.replace(/\n[A-Za-z0-9+/]{64}\n/, '\nAAAA\n');
    assert.throws(() => parseSealingCert(corrupted), /not a valid X\.509 certificate/);
  });

  it('refuses a private key without echoing it', () => {
    const pem = privateKeyPem(keys);
    assert.throws(
      () => parseSealingCert(pem),
      (err: unknown) =>
        err instanceof SealingCertError &&
        /PRIVATE KEY/.test(err.message) &&
        !err.message.includes(pem.split('\n')[1]!.slice(0, 16)),
    );
  });

  it('never echoes non-PEM input into the message', () => {
    const secretLooking = 'c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw';
    assert.throws(
      () => parseSealingCert(secretLooking),
      (err: unknown) => err instanceof Error && !err.message.includes(secretLooking.slice(0, 8)),
    );
  });
});

describe('certFingerprint', () => {
  it('is SHA256 over the ssh-rsa wire encoding of the key (what Go ssh.FingerprintSHA256 hashes)', () => {
    const jwk = keys.publicKey.export({ format: 'jwk' });
    const n = Buffer.from(jwk.n!, 'base64url');
    const e = Buffer.from(jwk.e!, 'base64url');
    const field = (b: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return Buffer.concat([len, b]);
    };
    // A 2048-bit modulus always has its top bit set, so its mpint carries a leading zero byte; 65537 does not.
    const wire = Buffer.concat([field(Buffer.from('ssh-rsa')), field(e), field(Buffer.concat([Buffer.from([0]), n]))]);
    const expected = `SHA256:${createHash('sha256').update(wire).digest('base64').replace(/=+$/, '')}`;
    assert.equal(certFingerprint(certPem), expected);
  });

  it('depends on the key only, not on the certificate around it', () => {
    assert.equal(certFingerprint(selfSignedCertPem(keys, { commonName: 'renewed' })), certFingerprint(certPem));
  });
});

describe('buildSealedSecret', () => {
  const base = {
    name: 'synapse-secrets',
    namespace: 'wr-case-42-abcd',
    certPem,
    data: { registration_shared_secret: 'abc', 'signing.key': Buffer.from('ed25519 a_AbCd seed\n') },
  };

  it('builds the kubeseal object shape for strict scope with no scope annotation', () => {
    const sealed = buildSealedSecret({
      ...base,
      scope: 'strict',
      labels: { 'app.kubernetes.io/managed-by': 'warroom' },
      annotations: { 'warroom.dev/channel-uid': 'uid-1' },
    });
    assert.equal(sealed.apiVersion, 'bitnami.com/v1alpha1');
    assert.equal(sealed.kind, 'SealedSecret');
    const metadata = {
      name: 'synapse-secrets',
      namespace: 'wr-case-42-abcd',
      labels: { 'app.kubernetes.io/managed-by': 'warroom' },
      annotations: { 'warroom.dev/channel-uid': 'uid-1' },
    };
    assert.deepEqual(sealed.metadata, metadata);
    assert.deepEqual(sealed.spec.template, { metadata, type: 'Opaque' });
    assert.deepEqual(Object.keys(sealed.spec.encryptedData), ['registration_shared_secret', 'signing.key']);
  });

  it('seals every value with the label of its scope and marks the scope on both metadata like UpdateScopeAnnotations', () => {
    for (const scope of SEALING_SCOPES) {
      const sealed = buildSealedSecret({ ...base, scope });
      const label = encryptionLabel(base.namespace, base.name, scope);
      assert.equal(
        unsealValue(keys.privateKey, sealed.spec.encryptedData.registration_shared_secret!, label).toString(),
        'abc',
      );
      assert.equal(
        unsealValue(keys.privateKey, sealed.spec.encryptedData['signing.key']!, label).toString(),
        'ed25519 a_AbCd seed\n',
      );
      const expected =
        scope === 'strict'
          ? undefined
          : { [scope === 'cluster-wide' ? CLUSTER_WIDE_ANNOTATION : NAMESPACE_WIDE_ANNOTATION]: 'true' };
      assert.deepEqual(sealed.metadata.annotations, expected, scope);
      assert.deepEqual(sealed.spec.template.metadata.annotations, expected, scope);
    }
  });

  it('strict values do not decrypt under another name (the controller labels by the SealedSecret metadata)', () => {
    const sealed = buildSealedSecret({ ...base, scope: 'strict' });
    assert.throws(() =>
      unsealValue(
        keys.privateKey,
        sealed.spec.encryptedData.registration_shared_secret!,
        encryptionLabel(base.namespace, 'renamed', 'strict'),
      ),
    );
  });

  it('rewrites conflicting scope annotations and strips last-applied annotations that would hold plaintext', () => {
    const sealed = buildSealedSecret({
      ...base,
      scope: 'strict',
      annotations: {
        [CLUSTER_WIDE_ANNOTATION]: 'true',
        [NAMESPACE_WIDE_ANNOTATION]: 'true',
        'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"x":"cGxhaW4="}}',
        'kubecfg.ksonnet.io/last-applied-configuration': '{}',
        keep: 'me',
      },
    });
    assert.deepEqual(sealed.metadata.annotations, { keep: 'me' });
    assert.deepEqual(sealed.spec.template.metadata.annotations, { keep: 'me' });
  });

  it('passes the Secret type and immutability to the template', () => {
    const sealed = buildSealedSecret({ ...base, scope: 'strict', type: 'kubernetes.io/basic-auth', immutable: true });
    assert.equal(sealed.spec.template.type, 'kubernetes.io/basic-auth');
    assert.equal(sealed.spec.template.immutable, true);
  });

  it('does not share label/annotation objects between the two metadata or with the input', () => {
    const labels = { a: 'b' };
    const sealed = buildSealedSecret({ ...base, scope: 'strict', labels });
    assert.notEqual(sealed.metadata.labels, labels);
    assert.notEqual(sealed.metadata.labels, sealed.spec.template.metadata.labels);
  });

  it('puts no plaintext anywhere in the object', () => {
    const plaintext = 'plaintext-that-must-not-appear-0123456789';
    const json = JSON.stringify(buildSealedSecret({ ...base, scope: 'strict', data: { k: plaintext } }));
    assert.ok(!json.includes(plaintext));
    assert.ok(!json.includes(Buffer.from(plaintext).toString('base64')));
  });

  it('refuses an expired cert through the injected clock', () => {
    assert.throws(
      () => buildSealedSecret({ ...base, scope: 'strict', now: new Date('2999-01-01T00:00:00Z') }),
      SealingCertError,
    );
  });

  it('refuses invalid names, namespaces, data keys, scopes and empty data', () => {
    assert.throws(() => buildSealedSecret({ ...base, scope: 'strict', name: 'Bad_Name' }), /DNS-1123 subdomain/);
    assert.throws(() => buildSealedSecret({ ...base, scope: 'strict', namespace: '' }), /DNS-1123 label/);
    assert.throws(() => buildSealedSecret({ ...base, scope: 'strict', namespace: 'a/b' }), /DNS-1123 label/);
    assert.throws(() => buildSealedSecret({ ...base, scope: 'strict', data: { 'a/b': 'x' } }), /data key "a\/b"/);
    assert.throws(() => buildSealedSecret({ ...base, scope: 'strict', data: { '..x': 'x' } }), /data key/);
    assert.throws(() => buildSealedSecret({ ...base, scope: 'strict', data: {} }), /no data/);
    assert.throws(
      () => buildSealedSecret({ ...base, scope: 'wide' as unknown as 'strict' }),
      /unknown sealing scope "wide"/,
    );
  });
});
