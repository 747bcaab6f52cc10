import { createDecipheriv, createHash } from 'node:crypto';

/**
 * Fetches an attachment named by an event (`content.url`, or `content.file` for an encrypted attachment) through
 * authenticated media (`/_matrix/client/v1/media/download`, Synapse's default since 1.120), bounded in size and
 * time. Encrypted attachments (spec "Sending encrypted attachments") are checked against `file.hashes.sha256` (of
 * the ciphertext) before being decrypted with AES-256-CTR under the JWK key and the iv.
 */

export interface EncryptedFile {
  url: string;
  key: { k: string; alg?: string; kty?: string };
  iv: string;
  hashes: { sha256: string };
  v?: string;
}

export interface MediaRef {
  mxcUri: string;
  mimetype?: string;
  encrypted?: EncryptedFile;
}

export interface MediaFetchOptions {
  baseUrl: string;
  accessToken: string;
  maxBytes: number;
  timeoutMs: number;
}

export class MediaError extends Error {
  override name = 'MediaError';
}

const MXC = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/;

/** Media named by a message's content; thumbnails are left out (derived, not evidence). */
export function mediaRefsOf(content: Record<string, unknown> | undefined): MediaRef[] {
  if (!content) return [];
  const info = content.info as { mimetype?: unknown } | undefined;
  const mimetype = typeof info?.mimetype === 'string' ? info.mimetype : undefined;
  const file = content.file as Partial<EncryptedFile> | undefined;
  if (file && typeof file.url === 'string') {
    return [{ mxcUri: file.url, ...(mimetype ? { mimetype } : {}), encrypted: file as EncryptedFile }];
  }
  if (typeof content.url === 'string' && content.url.startsWith('mxc://')) {
    return [{ mxcUri: content.url, ...(mimetype ? { mimetype } : {}) }];
  }
  return [];
}

/** Unpadded or padded, standard or url-safe base64 → bytes. */
function unbase64(value: string): Buffer {
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

export async function fetchMedia(ref: MediaRef, options: MediaFetchOptions): Promise<Buffer> {
  const match = MXC.exec(ref.mxcUri);
  if (!match) throw new MediaError(`not an mxc URI: ${ref.mxcUri.slice(0, 200)}`);
  const url = new URL(
    `_matrix/client/v1/media/download/${encodeURIComponent(match[1] ?? '')}/${encodeURIComponent(match[2] ?? '')}`,
    options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`,
  );
  url.searchParams.set('allow_redirect', 'false');
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${options.accessToken}` },
    signal: AbortSignal.timeout(options.timeoutMs),
  }).catch((err: unknown) => {
    throw new MediaError(`download failed: ${err instanceof Error ? err.message : String(err)}`);
  });
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => {});
    throw new MediaError(`download failed: HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > options.maxBytes) {
    await response.body.cancel().catch(() => {});
    throw new MediaError(`too large: ${declared} bytes > ${options.maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > options.maxBytes) throw new MediaError(`too large: more than ${options.maxBytes} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof MediaError) throw err;
    throw new MediaError(`download failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const body = Buffer.concat(chunks);
  return ref.encrypted ? decryptAttachment(body, ref.encrypted) : body;
}

export function decryptAttachment(ciphertext: Buffer, file: EncryptedFile): Buffer {
  const expected = unbase64(file.hashes?.sha256 ?? '');
  const actual = createHash('sha256').update(ciphertext).digest();
  if (expected.length !== 32 || !expected.equals(actual)) {
    throw new MediaError('ciphertext sha256 does not match file.hashes.sha256');
  }
  const key = unbase64(file.key?.k ?? '');
  const iv = unbase64(file.iv ?? '');
  if (key.length !== 32 || iv.length !== 16) throw new MediaError('bad attachment key or iv length');
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}
