/**
 * The few JSON-over-HTTP calls the provisioner makes to Synapse (client-server and admin APIs), with global fetch.
 * Request bodies carry passwords and MACs, so nothing here ever puts a body, a token or a header in an error
 * message or a log line: only the method, the path (user ids and room ids, no secrets) and Synapse's errcode.
 */

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export class MatrixHttpError extends Error {
  readonly status: number;
  readonly errcode: string | undefined;
  readonly method: string;
  readonly path: string;

  constructor(
    method: string,
    path: string,
    status: number,
    errcode: string | undefined,
    serverError: string | undefined,
  ) {
    super(
      `${method} ${path} failed: HTTP ${status}${errcode ? ` ${errcode}` : ''}${serverError ? `: ${serverError}` : ''}`,
    );
    this.name = 'MatrixHttpError';
    this.status = status;
    this.errcode = errcode;
    this.method = method;
    this.path = path;
  }
}

export interface MatrixRequestOptions {
  accessToken?: string;
  body?: unknown;
  fetch?: FetchLike;
  /** Per-request deadline; Synapse answers in milliseconds when healthy. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** `path` must already be encoded (use `encodePathSegment` for ids). */
export async function matrixRequest<T>(
  baseUrl: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: MatrixRequestOptions = {},
): Promise<T> {
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.accessToken !== undefined) headers.authorization = `Bearer ${options.accessToken}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  // Relative resolution keeps any path prefix of baseUrl (a homeserver behind /synapse/, say).
  const url = new URL(path.replace(/^\/+/, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
  const response = await doFetch(url, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = parsed as { errcode?: unknown; error?: unknown } | undefined;
    throw new MatrixHttpError(
      method,
      path,
      response.status,
      typeof error?.errcode === 'string' ? error.errcode : undefined,
      typeof error?.error === 'string' ? error.error.slice(0, 200) : undefined,
    );
  }
  if (parsed === undefined) throw new MatrixHttpError(method, path, response.status, undefined, 'response is not JSON');
  return parsed as T;
}

export function encodePathSegment(value: string): string {
  return encodeURIComponent(value);
}
