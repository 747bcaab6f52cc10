export const REDACTED = '[REDACTED]';

/**
 * Keys whose value is a credential or may carry one, compared after lower-casing and removing `_` and `-`:
 * Kubernetes Secret payloads (data, stringData, SealedSecret encryptedData), HTTP auth headers, and anything named
 * like a password, secret, token or key (Synapse's registration_shared_secret, macaroon_secret_key, form_secret,
 * signing_key, Matrix access tokens, TURN shared secret, ...).
 */
const SECRET_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'data',
  'stringdata',
  'encrypteddata',
  'macaroonsecretkey',
  'signingkey',
  'privatekey',
  'apikey',
  'passphrase',
]);
const SECRET_SUFFIXES = ['password', 'passwd', 'secret', 'token', 'apikey', 'privatekey', 'signingkey', 'secretkey'];

export function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[-_]/g, '');
  return SECRET_KEYS.has(normalized) || SECRET_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
}

/** Past this depth values are replaced rather than inspected, so nothing deep slips through unchecked. */
export const MAX_REDACT_DEPTH = 12;

/**
 * Returns value with every secret-looking key's value replaced by REDACTED, at any depth, in plain objects, class
 * instances (client-node models are classes) and arrays. The input is never mutated; untouched branches are shared,
 * so the common case (nothing secret) allocates nothing. Errors become plain {type, message, stack, ...props, cause}
 * objects (their enumerable props are scrubbed too). Circular references become '[Circular]'.
 */
export function redactSecrets<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(value: unknown, depth: number, ancestors: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date || value instanceof RegExp || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return value;
  }
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_REDACT_DEPTH) return '[MaxDepth]';
  ancestors.add(value);
  try {
    if (value instanceof Error) return walkObject(errorToPlain(value), depth, ancestors);
    if (Array.isArray(value)) return walkArray(value, depth, ancestors);
    if (value instanceof Map) return walkObject(Object.fromEntries(value), depth, ancestors);
    if (value instanceof Set) return walkArray([...value], depth, ancestors);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(value), depth + 1, ancestors);
    return walkObject(value as Record<string, unknown>, depth, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

/** JSON.stringify(error) keeps only enumerable own props; keep what a reader needs and scrub the props too. */
function errorToPlain(err: Error): Record<string, unknown> {
  const plain: Record<string, unknown> = { type: err.name, message: err.message, stack: err.stack };
  Object.assign(plain, err);
  if (err.cause !== undefined) plain.cause = err.cause;
  if (err instanceof AggregateError) plain.errors = err.errors;
  return plain;
}

function walkArray(items: unknown[], depth: number, ancestors: WeakSet<object>): unknown[] {
  let copy: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const next = walk(items[i], depth + 1, ancestors);
    if (next !== items[i]) {
      copy ??= items.slice();
      copy[i] = next;
    }
  }
  return copy ?? items;
}

function walkObject(obj: Record<string, unknown>, depth: number, ancestors: WeakSet<object>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    const current = obj[key];
    const next = isSecretKey(key) && current !== undefined ? REDACTED : walk(current, depth + 1, ancestors);
    if (next !== current) {
      copy ??= { ...obj };
      copy[key] = next;
    }
  }
  // Class instances are copied into plain objects only when something changed; JSON output is the same either way.
  return copy ?? obj;
}
