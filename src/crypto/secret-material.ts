import { randomBytes } from 'node:crypto';

/**
 * The per-channel secrets, generated once when a war room is created and then only ever sealed: the operator keeps
 * no copy, so every value must be strong enough on its own and never be derived from anything the operator retains.
 */

/** Returns `size` cryptographically random bytes; injected so tests can be deterministic. */
export type RandomBytes = (size: number) => Buffer;

/** Secret keys, which are also the file names the workloads read (Synapse `*_path` options, mounted under /secrets). */
export const SECRET_KEYS = {
  registrationSharedSecret: 'registration_shared_secret',
  macaroonSecretKey: 'macaroon_secret_key',
  formSecret: 'form_secret',
  signingKey: 'signing.key',
  turnSharedSecret: 'turn_shared_secret',
  recorderPassword: 'recorder_password',
  adminBotPassword: 'admin_bot_password',
} as const;

export const PARTICIPANT_PASSWORD_KEY_PREFIX = 'password.';

/** 32 bytes = 256 bits, encoded as 43 base64url characters: safe in URLs, YAML, HMAC inputs and shell-free configs. */
export const TOKEN_BYTES = 32;
const ED25519_SEED_BYTES = 32;
const KEY_ID_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
// Largest multiple of 52 that fits a byte; bytes at or above it are rejected so every letter is equally likely.
const KEY_ID_BYTE_LIMIT = 256 - (256 % KEY_ID_LETTERS.length);
const KEY_ID_SUFFIX_LENGTH = 4;
// Handles become Matrix localparts and Secret keys; this is the intersection of both alphabets.
const PARTICIPANT_HANDLE = /^[a-z0-9._-]{1,200}$/;

export interface SigningKey {
  /** `a_` + 4 letters, as Synapse's generate_files picks it. */
  keyId: string;
  /** Synapse's signing key file line: `ed25519 <keyId> <unpadded standard base64 of the 32-byte seed>`. */
  line: string;
}

export interface ChannelSecretMaterial {
  registrationSharedSecret: string;
  macaroonSecretKey: string;
  formSecret: string;
  signingKey: SigningKey;
  turnSharedSecret: string;
  recorderPassword: string;
  adminBotPassword: string;
  /** Keyed by participant handle, in the order the handles were given. */
  participantPasswords: Record<string, string>;
}

/** Generates the whole secret set for one channel. */
export function generateSecretMaterial(
  participantHandles: readonly string[],
  random: RandomBytes = randomBytes,
): ChannelSecretMaterial {
  const seen = new Set<string>();
  for (const handle of participantHandles) {
    if (!PARTICIPANT_HANDLE.test(handle)) {
      throw new Error(
        `participant handle "${handle}" cannot be used: only lowercase letters, digits, '.', '_' and '-' (1-200 chars)`,
      );
    }
    if (seen.has(handle)) throw new Error(`participant handle "${handle}" is listed twice`);
    seen.add(handle);
  }

  const material: ChannelSecretMaterial = {
    registrationSharedSecret: generateToken(random),
    macaroonSecretKey: generateToken(random),
    formSecret: generateToken(random),
    signingKey: generateSigningKey(random),
    turnSharedSecret: generateToken(random),
    recorderPassword: generateToken(random),
    adminBotPassword: generateToken(random),
    // fromEntries defines own properties, so even a handle like "__proto__" stays a plain key.
    participantPasswords: Object.fromEntries(participantHandles.map((handle) => [handle, generateToken(random)])),
  };

  assertAllDistinct(material);
  return material;
}

/** A 256-bit random token in base64url without padding. */
export function generateToken(random: RandomBytes = randomBytes): string {
  return take(random, TOKEN_BYTES).toString('base64url');
}

/** A fresh Ed25519 signing key in the exact one-line format Synapse reads from `signing_key_path`. */
export function generateSigningKey(random: RandomBytes = randomBytes): SigningKey {
  const keyId = `a_${randomLetters(random, KEY_ID_SUFFIX_LENGTH)}`;
  const seed = take(random, ED25519_SEED_BYTES);
  return { keyId, line: `ed25519 ${keyId} ${seed.toString('base64').replace(/=+$/, '')}` };
}

/** The Secret key (and file name) holding a participant's password. */
export function participantPasswordKey(handle: string): string {
  return `${PARTICIPANT_PASSWORD_KEY_PREFIX}${handle}`;
}

/** Every value keyed by its Secret key / file name, for builders that seal the whole set or a subset of it. */
export function secretMaterialEntries(material: ChannelSecretMaterial): Record<string, string> {
  const entries: Record<string, string> = {
    [SECRET_KEYS.registrationSharedSecret]: material.registrationSharedSecret,
    [SECRET_KEYS.macaroonSecretKey]: material.macaroonSecretKey,
    [SECRET_KEYS.formSecret]: material.formSecret,
    // Synapse reads the file line by line; a trailing newline is how signedjson writes it.
    [SECRET_KEYS.signingKey]: `${material.signingKey.line}\n`,
    [SECRET_KEYS.turnSharedSecret]: material.turnSharedSecret,
    [SECRET_KEYS.recorderPassword]: material.recorderPassword,
    [SECRET_KEYS.adminBotPassword]: material.adminBotPassword,
  };
  for (const [handle, password] of Object.entries(material.participantPasswords)) {
    entries[participantPasswordKey(handle)] = password;
  }
  return entries;
}

function take(random: RandomBytes, size: number): Buffer {
  const bytes = random(size);
  if (!Buffer.isBuffer(bytes) || bytes.length !== size) {
    throw new Error(
      `random source returned ${Buffer.isBuffer(bytes) ? bytes.length : typeof bytes} bytes, not ${size}`,
    );
  }
  return bytes;
}

function randomLetters(random: RandomBytes, count: number): string {
  let out = '';
  // A real RNG rejects about 19% of bytes; 64 rounds without progress means the source is broken, not unlucky.
  for (let round = 0; round < 64 && out.length < count; round++) {
    for (const byte of take(random, count)) {
      if (byte < KEY_ID_BYTE_LIMIT && out.length < count) out += KEY_ID_LETTERS[byte % KEY_ID_LETTERS.length];
    }
  }
  if (out.length < count) throw new Error('random source keeps returning bytes outside the usable range');
  return out;
}

// A repeated value can only come from a broken random source; sealing it would silently weaken the channel.
function assertAllDistinct(material: ChannelSecretMaterial): void {
  const values = Object.values(secretMaterialEntries(material));
  if (new Set(values).size !== values.length) {
    throw new Error('random source produced a repeated secret value; refusing to use this secret set');
  }
}
