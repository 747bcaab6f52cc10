import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import type { HttpMetrics } from '../observability/metrics.ts';
import { registerAccessControl } from './access.ts';
import type { Authenticator } from './auth.ts';
import { errorBody, HttpError } from './errors.ts';
import { type RateLimitOptions, registerRateLimit } from './rate-limit.ts';
import { type ChannelSource, channelRoutes } from './routes/channels.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { zodSerializerCompiler, zodToOpenApi, zodValidatorCompiler } from './zod-fastify.ts';

export type { ChannelSource };

export interface HttpServerDeps {
  channels: ChannelSource;
  registry: Registry;
  /** Request counts and latencies; usually `operator.metrics.http`, on the same registry. */
  httpMetrics?: HttpMetrics;
  ready(): boolean;
  auth: Authenticator;
  log: Logger;
  /** Let /healthz, /readyz and /metrics through without a token (kubelet probes and most Prometheus set-ups). */
  allowAnonymousHealth: boolean;
  /** Per-client limit; false turns it off (benchmarks). */
  rateLimit: RateLimitOptions | false;
  now?: () => number;
}

/** Methods Node's parser accepts are a fixed set, but a label should not depend on that: anything odd is OTHER. */
const METHOD_LABELS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** The route label of requests no route matched (404s): one series, whatever URL was asked for. */
export const UNMATCHED_ROUTE = 'unmatched';

const routeLabel = (request: FastifyRequest) => request.routeOptions.url ?? UNMATCHED_ROUTE;

/**
 * The read-only status API: health, metrics, OpenAPI and IncidentChannels from the cache. Everything it needs is
 * injected, so tests drive it with `app.inject()` and in-memory fakes. Routes are registered in a plugin after
 * @fastify/swagger so the OpenAPI document sees them; call `ready()` (inject and listen do) before using the app.
 */
export function createHttpServer(deps: HttpServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Per-request lines would be mostly probes and scrapes; denials and failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    requestTimeout: 10_000,
    connectionTimeout: 15_000,
    // A channel name may be 253 characters; find-my-way's default (100) would turn a long one into a 404.
    routerOptions: { maxParamLength: 256 },
    forceCloseConnections: 'idle',
  }) as unknown as FastifyInstance;
  const now = deps.now ?? Date.now;

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(zodSerializerCompiler);

  app.setErrorHandler((err: Partial<HttpError> & Error, request, reply) => {
    const code =
      typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (err instanceof HttpError) reply.headers(err.headers);
    if (code >= 500 && !(err instanceof HttpError)) {
      request.log.error({ err, route: routeLabel(request) }, 'request failed');
      return reply.code(500).send(errorBody(500, 'internal error'));
    }
    return reply.code(code).send(errorBody(code, err.message));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return reply.code(404).send(errorBody(404, `no route ${request.method} ${path.slice(0, 256)}`));
  });

  if (deps.rateLimit) registerRateLimit(app, deps.rateLimit);
  registerAccessControl(app, { auth: deps.auth, allowAnonymousHealth: deps.allowAnonymousHealth });

  const httpMetrics = deps.httpMetrics;
  if (httpMetrics) {
    app.addHook('onResponse', async (request, reply) => {
      const method = METHOD_LABELS.has(request.method) ? request.method : 'OTHER';
      httpMetrics.observeRequest(
        { route: routeLabel(request), method, code: reply.statusCode },
        reply.elapsedTime / 1000,
      );
    });
  }

  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'warroom status API',
        description:
          'Read-only view of IncidentChannels, served from the operator cache. Authenticate with a Kubernetes bearer ' +
          'token (checked with a TokenReview); access follows RBAC on incidentchannels.warroom.dev (checked with a ' +
          'SubjectAccessReview).',
        version: 'v1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: zodToOpenApi,
  });
  app.register(async (routes) => {
    healthRoutes(routes, { ready: deps.ready });
    metricsRoutes(routes, { registry: deps.registry });
    channelRoutes(routes, { channels: deps.channels, now });
    openApiRoutes(routes);
  });
  return app;
}

/** Listens and returns the base URL. Port 0 picks a free port (tests). */
export async function startHttpServer(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the HTTP server has no TCP address');
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shownHost}:${address.port}`;
}
