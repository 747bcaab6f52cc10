import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildDesired } from '../../../src/controllers/incidentchannel/desired/index.ts';
import {
  participantSecretName,
  renderSecret,
  secretPlan,
  secretValues,
} from '../../../src/controllers/incidentchannel/desired/secrets.ts';
import { channelLabels } from '../../../src/controllers/incidentchannel/names.ts';
import { encryptionLabel } from '../../../src/crypto/sealed-secrets.ts';
import { generateSecretMaterial, type RandomBytes } from '../../../src/crypto/secret-material.ts';
import { rsaKeyPair, selfSignedCertPem } from '../../support/sealed-secrets-certs.ts';
import { unsealValue } from '../../support/sealed-secrets-unseal.ts';
import { exampleContext } from './channel-fixtures.ts';

/** Fixed fake material: a counter stream, so every value is known, distinct and reproducible. */
function counterRandom(): RandomBytes {
  let counter = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) out[i] = (counter++ * 7 + 3) % 256;
    return out;
  };
}

const ctx = exampleContext('full.yaml');
const handles = ctx.participants.map((p) => p.handle);
const material = generateSecretMaterial(handles, counterRandom());
const POSTGRES_PASSWORD = 'pg-password-0123456789-abcdefghijklmnop';
const LIVEKIT = { apiKey: 'APIabcdef012345', apiSecret: 'lk-secret-0123456789-abcdefghijklmnopqrstuv' };
const allValues = () =>
  secretPlan(ctx).map((entry) => ({
    entry,
    values: secretValues(entry, material, { postgresPassword: POSTGRES_PASSWORD, liveKit: LIVEKIT }),
  }));

describe('the secret plan', () => {
  test('one Secret per consumer, one per participant, postgres only when used', () => {
    const plan = secretPlan(ctx);
    assert.deepEqual(
      plan.map((e) => [e.name, e.component, e.keys]),
      [
        [
          'synapse-secrets',
          'synapse',
          ['registration_shared_secret', 'macaroon_secret_key', 'form_secret', 'signing.key', 'turn_shared_secret'],
        ],
        ['turn-secret', 'coturn', ['turn_shared_secret']],
        ['bot-credentials', 'provisioner', ['admin_bot_password', 'recorder_password']],
        ['postgres-credentials', 'postgres', ['postgres_password', 'pgpass']],
        // The SFU's key pair, in the plan only when the war room runs one (full.yaml has calls.sfu).
        ['livekit-credentials', 'livekit', ['api_key', 'api_secret', 'keys.yaml']],
        ...handles.map((h) => [`participant-${h}`, 'provisioner', [`password.${h}`]]),
      ],
    );
    const sqlite = secretPlan(exampleContext('minimal.yaml'));
    assert.equal(
      sqlite.some((e) => e.name === 'postgres-credentials'),
      false,
    );
    // Calls off still seals the TURN secret: switching calls on later needs the value nobody holds any more.
    assert.ok(
      secretPlan(exampleContext('minimal.yaml', { calls: { enabled: false } })).some((e) => e.name === 'turn-secret'),
    );
  });

  test('adding a participant adds exactly one entry and leaves every existing one unchanged', () => {
    const before = secretPlan(ctx);
    const after = secretPlan(
      exampleContext('full.yaml', { participants: [...ctx.participants, { handle: 'kestrel', role: 'observer' }] }),
    );
    assert.deepEqual(after.slice(0, before.length), before);
    assert.deepEqual(
      after.slice(before.length).map((e) => e.name),
      ['participant-kestrel'],
    );
  });

  test('participant Secret names are valid DNS names even for handles with _ = or dots, and stay distinct', () => {
    assert.equal(participantSecretName('falcon'), 'participant-falcon');
    const odd = ['a_b', 'a=b', 'a.b', 'a-b', '..x', '-x', '='].map(participantSecretName);
    for (const name of odd) assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, name);
    assert.equal(new Set(odd).size, odd.length, odd.join(' '));
    assert.equal(participantSecretName('a_b'), participantSecretName('a_b'), 'stable');
  });

  test('values map straight from the generated material; the pgpass line matches what Synapse is told', () => {
    const byName = new Map(allValues().map(({ entry, values }) => [entry.name, values]));
    assert.deepEqual(byName.get('synapse-secrets'), {
      registration_shared_secret: material.registrationSharedSecret,
      macaroon_secret_key: material.macaroonSecretKey,
      form_secret: material.formSecret,
      'signing.key': `${material.signingKey.line}\n`,
      turn_shared_secret: material.turnSharedSecret,
    });
    assert.deepEqual(byName.get('turn-secret'), { turn_shared_secret: material.turnSharedSecret });
    assert.deepEqual(byName.get('bot-credentials'), {
      admin_bot_password: material.adminBotPassword,
      recorder_password: material.recorderPassword,
    });
    assert.deepEqual(byName.get('participant-owl'), { 'password.owl': material.participantPasswords.owl });
    assert.deepEqual(byName.get('postgres-credentials'), {
      postgres_password: POSTGRES_PASSWORD,
      pgpass: `postgres:5432:synapse:synapse:${POSTGRES_PASSWORD}\n`,
    });
    const postgres = secretPlan(ctx).find((e) => e.name === 'postgres-credentials');
    assert.ok(postgres);
    assert.throws(() => secretValues(postgres, material), /postgresPassword/);
    const stranger = {
      name: participantSecretName('nobody'),
      component: 'provisioner',
      keys: ['password.nobody'],
      participant: 'nobody',
    };
    assert.throws(() => secretValues(stranger, material), /no password was generated for participant nobody/);
  });

  test('no generated value appears in any desired object (ConfigMaps included)', () => {
    const secrets = allValues().flatMap(({ values }) => Object.values(values));
    const rawValues = [
      material.registrationSharedSecret,
      material.signingKey.line.split(' ')[2] ?? 'missing',
      material.turnSharedSecret,
      ...Object.values(material.participantPasswords),
      POSTGRES_PASSWORD,
    ];
    for (const o of buildDesired(ctx)) {
      const text = JSON.stringify(o);
      for (const value of [...secrets, ...rawValues]) {
        assert.equal(text.includes(value.trim()), false, `${o.kind}/${o.metadata.name} contains a secret value`);
      }
    }
  });
});

describe('rendering', () => {
  const entry = secretPlan(ctx).find((e) => e.name === 'synapse-secrets');
  assert.ok(entry);
  const values = secretValues(entry, material);

  test('plain mode: an immutable Opaque Secret with the channel labels and base64 data', () => {
    const secret = renderSecret(entry, values, 'plain', ctx.namespace, ctx.channel.name) as unknown as {
      kind: string;
      metadata: { name: string; namespace: string; labels: Record<string, string> };
      type: string;
      immutable: boolean;
      data: Record<string, string>;
    };
    assert.equal(secret.kind, 'Secret');
    assert.deepEqual(secret.metadata, {
      name: 'synapse-secrets',
      namespace: ctx.namespace,
      labels: channelLabels(ctx.channel.name, 'synapse'),
    });
    assert.equal(secret.type, 'Opaque');
    assert.equal(secret.immutable, true);
    for (const [key, value] of Object.entries(values)) {
      assert.equal(Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8'), value);
    }
  });

  test('sealed mode: a strict-scope SealedSecret that only this name/namespace can unseal, same labels on its template', () => {
    const keys = rsaKeyPair(2048);
    const cert = selfSignedCertPem(keys);
    const sealed = renderSecret(entry, values, 'sealed', ctx.namespace, ctx.channel.name, cert) as unknown as {
      apiVersion: string;
      kind: string;
      metadata: {
        name: string;
        namespace: string;
        labels: Record<string, string>;
        annotations?: Record<string, string>;
      };
      spec: {
        encryptedData: Record<string, string>;
        template: { metadata: { labels: Record<string, string> }; type: string; immutable: boolean };
      };
    };
    assert.equal(sealed.apiVersion, 'bitnami.com/v1alpha1');
    assert.equal(sealed.kind, 'SealedSecret');
    assert.equal(sealed.metadata.name, 'synapse-secrets');
    assert.deepEqual(sealed.metadata.labels, channelLabels(ctx.channel.name, 'synapse'));
    assert.deepEqual(sealed.spec.template.metadata.labels, channelLabels(ctx.channel.name, 'synapse'));
    assert.equal(sealed.metadata.annotations, undefined, 'strict scope carries no scope annotation');
    assert.equal(sealed.spec.template.immutable, true);
    const label = encryptionLabel(ctx.namespace, 'synapse-secrets', 'strict');
    for (const [key, value] of Object.entries(values)) {
      const ciphertext = sealed.spec.encryptedData[key] ?? '';
      assert.equal(ciphertext.includes(value), false);
      assert.equal(unsealValue(keys.privateKey, ciphertext, label).toString('utf8'), value);
      // Renamed or moved, it does not unseal.
      assert.throws(() => unsealValue(keys.privateKey, ciphertext, encryptionLabel(ctx.namespace, 'other', 'strict')));
    }
    assert.equal(JSON.stringify(sealed).includes(material.registrationSharedSecret), false);
  });

  test('refuses a sealed Secret without a certificate, and values that do not match the planned keys', () => {
    assert.throws(() => renderSecret(entry, values, 'sealed', ctx.namespace, ctx.channel.name), /certificate/);
    const { form_secret: _, ...missing } = values;
    assert.throws(
      () => renderSecret(entry, missing, 'plain', ctx.namespace, ctx.channel.name),
      (err: Error) => {
        assert.match(err.message, /expects keys/);
        // The message names keys, never values.
        for (const v of Object.values(values)) assert.equal(err.message.includes(v.trim()), false);
        return true;
      },
    );
    assert.throws(
      () => renderSecret(entry, { ...values, extra: 'x' }, 'plain', ctx.namespace, ctx.channel.name),
      /expects keys/,
    );
  });
});
