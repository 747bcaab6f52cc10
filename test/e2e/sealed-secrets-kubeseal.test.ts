// Interop with the REAL sealed-secrets Go code (kubeseal v0.36.0, built from its module): what the operator seals,
// kubeseal's own recovery path unseals, and what kubeseal seals, our format reading decrypts. Offline: no cluster.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import {
  buildSealedSecret,
  certFingerprint,
  encryptionLabel,
  SEALING_SCOPES,
  type SealedSecret,
  type SealingScope,
  sealValue,
} from '../../src/crypto/sealed-secrets.ts';
import { generateSecretMaterial, secretMaterialEntries } from '../../src/crypto/secret-material.ts';
import {
  kubeseal,
  kubesealBinary,
  type OpensslKeyPair,
  opensslKeyPair,
  run,
} from '../support/sealed-secrets-kubeseal.ts';
import { unsealValue } from '../support/sealed-secrets-unseal.ts';

interface UnsealedSecret {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type?: string;
  data: Record<string, string>;
}

const NAMESPACE = 'wr-case-7-f00d';
const NAME = 'synapse-secrets';

let bin: string;
let keys: OpensslKeyPair;

before(async () => {
  bin = await kubesealBinary();
  keys = await opensslKeyPair(4096);
});
after(async () => {
  await keys?.cleanup();
});

/** The values a channel really seals, plus edge cases: raw binary, empty, multi-line, non-ASCII, large. */
function sampleData(): Record<string, Buffer> {
  const data: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(secretMaterialEntries(generateSecretMaterial(['alice', 'bob.ops'])))) {
    data[key] = Buffer.from(value, 'utf8');
  }
  data['binary.bin'] = randomBytes(777);
  data.empty = Buffer.alloc(0);
  data['turnserver.conf'] = Buffer.from('use-auth-secret\nstatic-auth-secret=x\nrealm=wr ✓ ünïcode\n', 'utf8');
  data.large = randomBytes(200 * 1024);
  return data;
}

async function recoveryUnseal(sealed: SealedSecret | Record<string, unknown>): Promise<UnsealedSecret> {
  const { stdout } = await kubeseal(
    bin,
    ['--recovery-unseal', '--recovery-private-key', keys.keyPath, '-o', 'yaml'],
    stringify(sealed),
  );
  return parse(stdout) as UnsealedSecret;
}

function assertSameBytes(actual: Record<string, string>, expected: Record<string, Buffer>) {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [key, value] of Object.entries(expected)) {
    assert.ok(Buffer.from(actual[key] ?? '', 'base64').equals(value), `value of ${key} differs after unsealing`);
  }
}

describe('TypeScript seals, real kubeseal --recovery-unseal decrypts', () => {
  for (const scope of SEALING_SCOPES) {
    it(`${scope}: every value comes back byte for byte`, async () => {
      const data = sampleData();
      const sealed = buildSealedSecret({
        name: NAME,
        namespace: NAMESPACE,
        scope,
        certPem: keys.certPem,
        data,
        labels: { 'app.kubernetes.io/managed-by': 'warroom' },
        annotations: { 'warroom.dev/channel-uid': '1234' },
      });
      const secret = await recoveryUnseal(sealed);
      assert.equal(secret.metadata.name, NAME);
      assert.equal(secret.metadata.namespace, NAMESPACE);
      assert.deepEqual(secret.metadata.labels, { 'app.kubernetes.io/managed-by': 'warroom' });
      assert.equal(secret.metadata.annotations?.['warroom.dev/channel-uid'], '1234');
      assert.equal(secret.type, 'Opaque');
      assertSameBytes(secret.data, data);
    });
  }

  it('strings are sealed as their UTF-8 bytes, not base64 first', async () => {
    const sealed = buildSealedSecret({
      name: NAME,
      namespace: NAMESPACE,
      scope: 'strict',
      certPem: keys.certPem,
      data: { password: 'pässword-ü' },
    });
    const secret = await recoveryUnseal(sealed);
    assert.equal(Buffer.from(secret.data.password!, 'base64').toString('utf8'), 'pässword-ü');
  });

  it('a 4096-bit controller key gives the 0x0200 length prefix kubeseal writes', () => {
    const blob = Buffer.from(sealValue(keys.certPem, Buffer.from('x'), Buffer.from('a/b')), 'base64');
    assert.equal(blob.readUInt16BE(0), 512);
  });

  // The controller derives the label from the SealedSecret's own metadata: moving it must fail exactly where Go says.
  const moves: Array<{ scope: SealingScope; name: string; namespace: string; ok: boolean }> = [
    { scope: 'strict', name: 'renamed', namespace: NAMESPACE, ok: false },
    { scope: 'strict', name: NAME, namespace: 'wr-other', ok: false },
    { scope: 'namespace-wide', name: 'renamed', namespace: NAMESPACE, ok: true },
    { scope: 'namespace-wide', name: NAME, namespace: 'wr-other', ok: false },
    { scope: 'cluster-wide', name: 'renamed', namespace: 'wr-other', ok: true },
  ];
  for (const move of moves) {
    it(`${move.scope} moved to ${move.namespace}/${move.name}: Go ${move.ok ? 'still unseals' : 'refuses'}`, async () => {
      const sealed = buildSealedSecret({
        name: NAME,
        namespace: NAMESPACE,
        scope: move.scope,
        certPem: keys.certPem,
        data: { token: 'moved-token' },
      });
      const moved = {
        ...sealed,
        metadata: { ...sealed.metadata, name: move.name, namespace: move.namespace },
      };
      if (move.ok) {
        const secret = await recoveryUnseal(moved);
        assert.equal(Buffer.from(secret.data.token!, 'base64').toString(), 'moved-token');
      } else {
        await assert.rejects(recoveryUnseal(moved), /no key could decrypt secret/);
      }
    });
  }

  it('Go refuses when the scope annotation on the SealedSecret does not match how the values were sealed', async () => {
    const sealed = buildSealedSecret({
      name: NAME,
      namespace: NAMESPACE,
      scope: 'cluster-wide',
      certPem: keys.certPem,
      data: { token: 'x' },
    });
    const stripped = { ...sealed, metadata: { name: NAME, namespace: NAMESPACE } };
    await assert.rejects(recoveryUnseal(stripped), /no key could decrypt secret/);
  });
});

describe('real kubeseal seals, TypeScript decrypts', () => {
  const labels = { 'app.kubernetes.io/managed-by': 'warroom' };
  const annotations = { 'warroom.dev/channel-uid': '1234' };

  for (const scope of SEALING_SCOPES) {
    it(`${scope}: kubeseal --cert -o yaml, each value decrypts with the label of its scope`, async () => {
      const data = sampleData();
      delete data.large; // keep the Secret manifest small; size is covered in the other direction
      const binaryData = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('base64')]));
      const secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: NAME, namespace: NAMESPACE, labels, annotations },
        type: 'Opaque',
        data: binaryData,
        stringData: { 'from-string': 'plain ✓' },
      };
      const { stdout } = await kubeseal(
        bin,
        ['--cert', keys.certPath, '--scope', scope, '-o', 'yaml'],
        stringify(secret),
      );
      const sealed = parse(stdout) as SealedSecret;
      const label = encryptionLabel(NAMESPACE, NAME, scope);
      const expected = { ...data, 'from-string': Buffer.from('plain ✓', 'utf8') };
      assert.deepEqual(Object.keys(sealed.spec.encryptedData).sort(), Object.keys(expected).sort());
      for (const [key, value] of Object.entries(expected)) {
        assert.ok(unsealValue(keys.keyPem, sealed.spec.encryptedData[key]!, label).equals(value), key);
      }
      for (const other of SEALING_SCOPES.filter((s) => s !== scope)) {
        const wrong = encryptionLabel(NAMESPACE, NAME, other);
        assert.throws(() => unsealValue(keys.keyPem, sealed.spec.encryptedData['from-string']!, wrong), other);
      }

      // Our object carries the same metadata kubeseal writes (we add our labels/annotations on the SealedSecret too).
      const ours = buildSealedSecret({
        name: NAME,
        namespace: NAMESPACE,
        scope,
        certPem: keys.certPem,
        data,
        labels,
        annotations,
      });
      assert.deepEqual(ours.spec.template.metadata, sealed.spec.template.metadata);
      assert.equal(ours.spec.template.type, sealed.spec.template.type);
      assert.equal(ours.apiVersion, sealed.apiVersion);
      assert.equal(ours.kind, sealed.kind);
      assert.deepEqual(ours.metadata, {
        ...sealed.metadata,
        labels,
        annotations: { ...annotations, ...sealed.metadata.annotations },
      });
    });

    it(`${scope}: kubeseal --raw output decrypts with the label of its scope`, async () => {
      const value = Buffer.concat([randomBytes(64), Buffer.from('\n--raw ✓\n')]);
      // A file, not /dev/stdin: node hands children a socket for stdin, which Go cannot open by path.
      const valuePath = join(keys.dir, `raw-${scope}.bin`);
      await writeFile(valuePath, value);
      const args = ['--raw', '--scope', scope, `--from-file=${valuePath}`, '--cert', keys.certPath];
      if (scope !== 'cluster-wide') args.push('--namespace', NAMESPACE);
      if (scope === 'strict') args.push('--name', NAME);
      const { stdout } = await kubeseal(bin, args);
      const encrypted = stdout.trim();
      assert.match(encrypted, /^[A-Za-z0-9+/]+={0,2}$/);
      assert.ok(unsealValue(keys.keyPem, encrypted, encryptionLabel(NAMESPACE, NAME, scope)).equals(value));
    });
  }
});

describe('certificate handling agrees with the real tools', () => {
  it('the fingerprint is the SHA256 ssh fingerprint Go computes (checked with ssh-keygen)', async () => {
    const { stdout: spki } = await run('openssl', ['x509', '-pubkey', '-noout', '-in', keys.certPath]);
    const spkiPath = join(keys.dir, 'pub.pem');
    await writeFile(spkiPath, spki);
    const { stdout: sshKey } = await run('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', spkiPath]);
    const sshPath = join(keys.dir, 'pub.ssh');
    await writeFile(sshPath, sshKey);
    const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', sshPath]);
    const fingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(stdout)?.[0];
    assert.ok(fingerprint, `no fingerprint in: ${stdout}`);
    assert.equal(certFingerprint(keys.certPem), fingerprint);
  });

  it('kubeseal and parseSealingCert both refuse a cert that is not RSA', async () => {
    const ecKey = join(keys.dir, 'ec.key');
    const ecCert = join(keys.dir, 'ec.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      ecKey,
      '-out',
      ecCert,
      '-days',
      '1',
      '-subj',
      '/CN=not-rsa',
    ]);
    await assert.rejects(
      kubeseal(bin, ['--raw', '--scope', 'cluster-wide', `--from-file=${ecKey}`, '--cert', ecCert]),
      /expected RSA public key/,
    );
    assert.throws(() => certFingerprint(readFileSync(ecCert, 'utf8')), /only seals with RSA keys/);
  });
});
