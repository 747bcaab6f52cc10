import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifySchema } from 'fastify';
import { z } from 'zod';
import { zodSerializerCompiler, zodToOpenApi, zodValidatorCompiler } from '../../../src/http/zod-fastify.ts';

const Out = z.object({ name: z.string(), count: z.int() });
const In = z.strictObject({ phase: z.enum(['A', 'B']).optional() });

describe('zod in Fastify', () => {
  it('the serializer sends only the schema fields: a handler that spreads an object cannot leak the rest', () => {
    const serialize = zodSerializerCompiler({ schema: Out, method: 'GET', url: '/' });
    const json = serialize({ name: 'x', count: 1, password: 'hunter2', nested: { token: 't' } });
    assert.equal(json, '{"name":"x","count":1}');
  });

  it('the serializer refuses a response that breaks the schema (a 500, not a malformed answer)', () => {
    const serialize = zodSerializerCompiler({ schema: Out, method: 'GET', url: '/' });
    assert.throws(() => serialize({ name: 'x', count: 'many' }));
  });

  it('the validator returns the parsed value, or a 400 error naming the field and rule', () => {
    const validate = zodValidatorCompiler({ schema: In, method: 'GET', url: '/', httpPart: 'querystring' });
    assert.deepEqual(validate({ phase: 'A' }), { value: { phase: 'A' } });
    const bad = validate({ phase: 'C' }) as { error: Error & { statusCode: number } };
    assert.equal(bad.error.statusCode, 400);
    assert.match(bad.error.message, /^querystring\.phase: /);
    const extra = validate({ other: '1' }) as { error: Error };
    assert.match(extra.error.message, /^querystring: Unrecognized key/);
  });

  it('refuses a non-zod schema at route compile time', () => {
    assert.throws(() => zodValidatorCompiler({ schema: { type: 'object' }, method: 'GET', url: '/' }), /not a zod/);
  });

  it('turns route schemas into OpenAPI JSON Schema (inputs as input, responses as output)', () => {
    const { schema } = zodToOpenApi({
      schema: { querystring: In, response: { 200: Out }, summary: 's' } as FastifySchema,
      url: '/x',
    });
    const s = schema as { querystring: unknown; response: Record<string, unknown>; summary: string };
    assert.deepEqual(s.querystring, {
      type: 'object',
      properties: { phase: { type: 'string', enum: ['A', 'B'] } },
      additionalProperties: false,
    });
    assert.deepEqual((s.response['200'] as { required: string[] }).required, ['name', 'count']);
    assert.equal(s.summary, 's');
  });
});
