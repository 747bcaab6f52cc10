import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../evidence/durable-file.ts';

/**
 * The recorder's crypto memory on its volume: the Megolm room keys (exportRoomKeysAsJson) and the cross-signing
 * secrets bundle, so that a restarted recorder (a new device, because the Rust crypto store lives in memory) can
 * still decrypt what its previous device could, and cross-signs its new device with the same identity.
 *
 * Each file is AES-256-GCM under a key derived with scrypt from the recorder's password (which only the recorder's
 * Secret holds) and a random salt kept in the file, so a copy of the volume alone reveals no key. Writes are atomic.
 */

const MAGIC = 'warroom-recorder-vault/v1';
// scrypt N=2^15, r=8: ~32 MiB and ~100 ms once per start; the derived key is cached for every later write.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

interface SealedFile {
  magic: string;
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

export const VAULT_FILES = { roomKeys: 'room-keys.vault', secrets: 'cross-signing.vault' } as const;
export type VaultEntry = keyof typeof VAULT_FILES;

function deriveKey(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export class KeyVault {
  readonly #dir: string;
  readonly #password: string;
  /** One salt (and so one derived key) per process; each file stores the salt it was sealed with. */
  readonly #salt = randomBytes(16);
  #key: Promise<Buffer> | undefined;

  constructor(dir: string, password: string) {
    this.#dir = dir;
    this.#password = password;
  }

  #ownKey(): Promise<Buffer> {
    this.#key ??= deriveKey(this.#password, this.#salt);
    return this.#key;
  }

  async write(entry: VaultEntry, plaintext: string): Promise<void> {
    const key = await this.#ownKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`${MAGIC}:${entry}`));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const sealed: SealedFile = {
      magic: MAGIC,
      salt: this.#salt.toString('base64'),
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
    await writeFileAtomic(join(this.#dir, VAULT_FILES[entry]), JSON.stringify(sealed));
  }

  /** Renames an unreadable file out of the way (never deleted: a human may still recover it); returns its name. */
  async setAside(entry: VaultEntry): Promise<string> {
    const name = `${VAULT_FILES[entry]}.unreadable-${Date.now()}`;
    await rename(join(this.#dir, VAULT_FILES[entry]), join(this.#dir, name));
    return name;
  }

  /** undefined when the file does not exist; throws when it exists but cannot be opened (wrong password, damage). */
  async read(entry: VaultEntry): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.#dir, VAULT_FILES[entry]), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const sealed = JSON.parse(text) as SealedFile;
    if (sealed.magic !== MAGIC) throw new Error(`${VAULT_FILES[entry]}: not a recorder vault file`);
    const salt = Buffer.from(sealed.salt, 'base64');
    const key = salt.equals(this.#salt) ? await this.#ownKey() : await deriveKey(this.#password, salt);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(`${MAGIC}:${entry}`));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`${VAULT_FILES[entry]}: cannot be decrypted (password changed or file damaged)`);
    }
  }
}
