import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

const HealthBody = z.object({ status: z.enum(['ok', 'unavailable']) }).meta({ description: 'Probe result' });

/** Liveness answers as long as the event loop does; readiness follows the operator (caches synced, workers up). */
export function healthRoutes(app: FastifyInstance, deps: { ready(): boolean }): void {
  const access = { health: true };
  app.get(
    '/healthz',
    {
      schema: { summary: 'Liveness: the process is serving', tags: ['health'], response: { 200: HealthBody } },
      config: { access },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: caches synced and, on the leader, workers running',
        tags: ['health'],
        response: { 200: HealthBody, 503: HealthBody },
      },
      config: { access },
    },
    async (_request, reply) => {
      if (deps.ready()) return { status: 'ok' as const };
      return reply.code(503).send({ status: 'unavailable' as const });
    },
  );
}
