import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** Prometheus exposition of the operator's registry; its collectors read caches at scrape time. */
export function metricsRoutes(app: FastifyInstance, deps: { registry: Registry }): void {
  app.get(
    '/metrics',
    {
      schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['health'], produces: ['text/plain'] },
      config: { access: { health: true } },
    },
    async (_request, reply) => {
      const text = await deps.registry.metrics();
      return reply.type(deps.registry.contentType).send(text);
    },
  );
}
