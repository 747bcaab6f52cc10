// Fastify speaks JSON Schema; our schemas are zod. These adapters let a route declare zod schemas directly: zod
// validates the input (params, querystring), zod parses the output before it is serialised (so a field outside the
// response schema is dropped, never sent), and the OpenAPI document gets the JSON Schema zod generates.
import type { FastifySchema, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { type ZodType, z } from 'zod';

const isZod = (schema: unknown): schema is ZodType => schema instanceof z.ZodType;

/** A validation failure Fastify answers with 400; the message names the field and the rule, never a value. */
export class ValidationError extends Error {
  readonly statusCode = 400;
  readonly code = 'FST_ERR_VALIDATION';

  constructor(part: string, error: z.ZodError) {
    super(error.issues.map((issue) => `${[part, ...issue.path.map(String)].join('.')}: ${issue.message}`).join('; '));
    this.name = 'ValidationError';
  }
}

export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (!isZod(schema)) throw new Error(`route ${httpPart ?? ''} schema is not a zod schema`);
  return (data: unknown) => {
    const result = schema.safeParse(data);
    return result.success
      ? { value: result.data }
      : { error: new ValidationError(httpPart ?? 'request', result.error) };
  };
};

export const zodSerializerCompiler: FastifySerializerCompiler<unknown> = ({ schema }) => {
  if (!isZod(schema)) throw new Error('response schema is not a zod schema');
  return (data: unknown) => JSON.stringify(schema.parse(data));
};

const toJsonSchema = (schema: unknown, io: 'input' | 'output') =>
  isZod(schema) ? z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) : schema;

/** @fastify/swagger `transform`: the route's zod schemas as OpenAPI 3.0 JSON Schema. */
export function zodToOpenApi({ schema, url }: { schema: FastifySchema; url: string }): {
  schema: FastifySchema;
  url: string;
} {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  for (const part of ['params', 'querystring', 'headers', 'body'] as const) {
    if (schema[part] !== undefined) out[part] = toJsonSchema(schema[part], 'input');
  }
  if (schema.response && typeof schema.response === 'object') {
    out.response = Object.fromEntries(
      Object.entries(schema.response as Record<string, unknown>).map(([code, s]) => [code, toJsonSchema(s, 'output')]),
    );
  }
  return { schema: out as FastifySchema, url };
}
