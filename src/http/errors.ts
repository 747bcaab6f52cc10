import { STATUS_CODES } from 'node:http';
import { z } from 'zod';

/** Every error the API returns has this shape (Fastify's own, so its built-in errors need no translation). */
export const ErrorBody = z
  .object({
    statusCode: z.int().min(400).max(599),
    error: z.string().meta({ description: 'The HTTP reason phrase, e.g. "Forbidden".' }),
    message: z.string(),
  })
  .meta({ description: 'An error' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** A failure with a status code the client should see; its message is safe to return as-is. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly headers: Record<string, string>;

  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

export function errorBody(statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/** The error responses a route can give, for its schema (and so for the OpenAPI document). */
export function errorResponses(...codes: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(
    codes.map((code) => [code, ErrorBody.meta({ description: STATUS_CODES[code] ?? 'Error' })]),
  );
}
