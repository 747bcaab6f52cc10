/** A failed apiserver call, with the HTTP code and the Status reason/message the server gave. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;

  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
  }

  static fromBody(method: string, path: string, code: number, statusText: string, text: string): ApiError {
    let reason = statusText;
    let message = text.slice(0, 2000);
    try {
      const status = JSON.parse(text) as { reason?: string; message?: string };
      reason = status.reason ?? reason;
      message = status.message ?? message;
    } catch {
      // not a Status object; keep the raw text
    }
    return new ApiError(code, reason, `${method} ${path}: ${code} ${reason}: ${message}`);
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.code === 409;
export const isGone = (err: unknown): boolean => err instanceof ApiError && err.code === 410;
export const isInvalid = (err: unknown): boolean => err instanceof ApiError && err.code === 422;
export const isForbidden = (err: unknown): boolean => err instanceof ApiError && err.code === 403;
/** Writing into a namespace that is being deleted: expected during teardown, never worth a retry storm. */
export const isNamespaceTerminating = (err: unknown): boolean =>
  err instanceof ApiError &&
  err.code === 403 &&
  /because it is being terminated|NamespaceTerminating/.test(err.message);
