import type { FastifyInstance } from 'fastify';

/** The OpenAPI 3 document of this API, for any authenticated caller (it describes the API, it holds no data). */
export function openApiRoutes(app: FastifyInstance): void {
  app.get('/openapi.json', { schema: { hide: true }, config: { access: {} } }, async () => app.swagger());
}
