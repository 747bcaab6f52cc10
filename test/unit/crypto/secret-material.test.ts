import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type ChannelSecretMaterial,
  generateSecretMaterial,
  generateSigningKey,
  generateToken,
  PARTICIPANT_PASSWORD_KEY_PREFIX,
  participantPasswordKey,
  type RandomBytes,
  SECRET_KEYS,
  secretMaterialEntries,
  TOKEN_BYTES,
} from '../../../src/crypto/secret-material.ts';

// Synapse's signing key line, parsed the way signedjson's read_signing_keys does.
function parseSigningKeyLine(line: string) {
  const parts = line.trim().split(' ');
  assert.equal(parts.length, 3, `expected "<alg> <id> <seed>", got ${parts.length} fields`);
  const [algorithm, keyId, seedBase64] = parts as [string, string, string];
  assert.match(seedBase64, /^[A-Za-z0-9+/]+$/, 'unpadded standard base64');
  const seed = Buffer.from(seedBase64, 'base64');
  return { algorithm, keyId, seedBase64, seed };
}

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410), which is how node:crypto imports it.
function ed25519PrivateKeyFromSeed(seed: Buffer) {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
}

/** Deterministic byte stream for tests: a counter, so every call returns different bytes. */
function counterRandom(): RandomBytes {
  let counter = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) out[i] = counter++ % 256;
    return out;
  };
}

/** Deterministic, non-repeating byte stream: SHA-256 in counter mode over a seed. */
function seededRandom(seed: string): RandomBytes {
  let block = 0;
  return (size) => {
    const chunks: Buffer[] = [];
    for (let n = 0; n < size; n += 32) chunks.push(createHash('sha256').update(`${seed}:${block++}`).digest());
    return Buffer.concat(chunks).subarray(0, size);
  };
}

describe('generateToken', () => {
  it('encodes 32 random bytes as 43 unpadded base64url chars', () => {
    const token = generateToken();
    assert.equal(token.length, 43);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(token, 'base64url').length, TOKEN_BYTES);
  });

  it('uses exactly the injected bytes', () => {
    const bytes = Buffer.alloc(32, 0xfb);
    assert.equal(
      generateToken(() => bytes),
      bytes.toString('base64url'),
    );
  });

  it('never repeats across many draws', () => {
    const tokens = new Set(Array.from({ length: 2000 }, () => generateToken()));
    assert.equal(tokens.size, 2000);
  });

  it('refuses a random source that returns the wrong length', () => {
    assert.throws(() => generateToken(() => Buffer.alloc(16)), /returned 16 bytes, not 32/);
  });
});

describe('generateSigningKey', () => {
  it('writes Synapse\'s one-line format: "ed25519 a_XXXX <43 chars of unpadded base64 seed>"', () => {
    const { keyId, line } = generateSigningKey();
    assert.match(line, /^ed25519 a_[a-zA-Z]{4} [A-Za-z0-9+/]{43}$/);
    const parsed = parseSigningKeyLine(line);
    assert.equal(parsed.algorithm, 'ed25519');
    assert.equal(parsed.keyId, keyId);
    assert.match(keyId, /^a_[a-zA-Z]{4}$/);
    assert.equal(parsed.seed.length, 32);
    assert.equal(parsed.seed.toString('base64').replace(/=+$/, ''), parsed.seedBase64, 'canonical encoding');
  });

  it('parses back to a working Ed25519 key whose public key node:crypto derives from the seed', () => {
    const { seed } = parseSigningKeyLine(generateSigningKey().line);
    const privateKey = ed25519PrivateKeyFromSeed(seed);
    const publicKey = createPublicKey(privateKey);
    assert.equal(publicKey.asymmetricKeyType, 'ed25519');
    const rawPublic = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    assert.equal(rawPublic.length, 32);
    const message = Buffer.from('{"server_name":"war.room"}');
    assert.ok(verify(null, message, publicKey, sign(null, message, privateKey)));
  });

  it('takes the seed from the injected random source', () => {
    // 4 letter bytes (0,1,2,3 → a,b,c,d), then the seed 4..35
    const { keyId, line } = generateSigningKey(counterRandom());
    assert.equal(keyId, 'a_abcd');
    const expectedSeed = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 4));
    assert.deepEqual(parseSigningKeyLine(line).seed, expectedSeed);
  });

  it('maps key id bytes uniformly onto [a-zA-Z] by rejecting bytes >= 208', () => {
    const chunks = [Buffer.from([208, 255, 51, 26]), Buffer.from([0, 209, 210, 211]), Buffer.from([1, 2, 3, 4])];
    const { keyId } = generateSigningKey((size) => {
      const next = chunks.shift() ?? Buffer.alloc(size);
      assert.equal(next.length, size);
      return next;
    });
    // 208 and 255 rejected; 51 → 'Z', 26 → 'A'; then 0 → 'a' and 209..211 rejected; then 1 → 'b', the rest unused
    assert.equal(keyId, 'a_ZAab');
  });

  it('gives up on a source that never yields usable bytes', () => {
    assert.throws(() => generateSigningKey((size) => Buffer.alloc(size, 0xff)), /outside the usable range/);
  });

  it('produces distinct keys and varied key ids', () => {
    const keys = Array.from({ length: 200 }, () => generateSigningKey());
    assert.equal(new Set(keys.map((k) => k.line.split(' ')[2])).size, 200);
    assert.ok(new Set(keys.map((k) => k.keyId)).size > 150, 'key ids come from 52^4 possibilities');
  });
});

describe('generateSecretMaterial', () => {
  const handles = ['lead-1', 'comms.2', 'scribe_3'];

  it('generates every secret, strong and URL-safe, with one password per participant', () => {
    const m = generateSecretMaterial(handles);
    for (const value of [
      m.registrationSharedSecret,
      m.macaroonSecretKey,
      m.formSecret,
      m.turnSharedSecret,
      m.recorderPassword,
      m.adminBotPassword,
      ...Object.values(m.participantPasswords),
    ]) {
      assert.match(value, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(value, 'base64url').length, 32);
    }
    assert.deepEqual(Object.keys(m.participantPasswords), handles);
    assert.match(m.signingKey.line, /^ed25519 a_[a-zA-Z]{4} [A-Za-z0-9+/]{43}$/);
  });

  it('never reuses a value within a set or across sets', () => {
    const sets = Array.from({ length: 50 }, () => generateSecretMaterial(handles));
    const all = sets.flatMap((m) => Object.values(secretMaterialEntries(m)));
    assert.equal(new Set(all).size, all.length);
  });

  it('is deterministic given the random source', () => {
    assert.deepEqual(
      generateSecretMaterial(handles, seededRandom('x')),
      generateSecretMaterial(handles, seededRandom('x')),
    );
    assert.notDeepEqual(
      generateSecretMaterial(handles, seededRandom('x')),
      generateSecretMaterial(handles, seededRandom('y')),
    );
  });

  it('refuses to hand out a set when the random source repeats itself', () => {
    assert.throws(() => generateSecretMaterial([], (size) => Buffer.alloc(size, 1)), /repeated secret value/);
  });

  it('refuses duplicate and unusable participant handles', () => {
    assert.throws(() => generateSecretMaterial(['a', 'a']), /"a" is listed twice/);
    for (const bad of ['', 'Alice', 'a/b', 'a=b', 'a b', 'x'.repeat(201)]) {
      assert.throws(() => generateSecretMaterial([bad]), /cannot be used/, JSON.stringify(bad));
    }
  });

  it('keeps a handle that collides with an Object.prototype name as an ordinary key', () => {
    const m = generateSecretMaterial(['__proto__', 'constructor']);
    assert.deepEqual(Object.keys(m.participantPasswords), ['__proto__', 'constructor']);
    assert.equal(Object.getPrototypeOf(m.participantPasswords), Object.prototype);
    assert.match(secretMaterialEntries(m)['password.__proto__']!, /^[A-Za-z0-9_-]{43}$/);
  });

  it('works with no participants', () => {
    assert.deepEqual(generateSecretMaterial([]).participantPasswords, {});
  });
});

describe('secretMaterialEntries', () => {
  it('keys every value by the file name the workloads read', () => {
    const m: ChannelSecretMaterial = generateSecretMaterial(['alice', 'bob'], seededRandom('entries'));
    const entries = secretMaterialEntries(m);
    assert.deepEqual(entries, {
      registration_shared_secret: m.registrationSharedSecret,
      macaroon_secret_key: m.macaroonSecretKey,
      form_secret: m.formSecret,
      'signing.key': `${m.signingKey.line}\n`,
      turn_shared_secret: m.turnSharedSecret,
      recorder_password: m.recorderPassword,
      admin_bot_password: m.adminBotPassword,
      'password.alice': m.participantPasswords.alice,
      'password.bob': m.participantPasswords.bob,
    });
    assert.equal(SECRET_KEYS.signingKey, 'signing.key');
    assert.equal(participantPasswordKey('alice'), `${PARTICIPANT_PASSWORD_KEY_PREFIX}alice`);
  });

  it('uses only valid Secret keys', () => {
    for (const key of Object.keys(secretMaterialEntries(generateSecretMaterial(['a.b-c_d'])))) {
      assert.match(key, /^[-._a-zA-Z0-9]+$/);
    }
  });
});
