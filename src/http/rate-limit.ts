import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.ts';
import { TokenBucketLimiter } from './token-bucket.ts';

export interface RateLimitOptions {
  /** Requests a client may make at once. */
  burst: number;
  /** Sustained requests per second per client. */
  perSecond: number;
  /** Clients (source addresses) tracked at once. */
  maxClients?: number;
  /**
   * Route patterns never limited. The kubelet's probes come from the node address, which in-cluster traffic SNATed
   * through that node shares: a flood from there must not fail the probes and get the pod restarted.
   */
  exemptRoutes?: string[];
  now?: () => number;
}

/** Generous for a dashboard polling a few endpoints each second, tight enough that a flood cannot drive TokenReviews. */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = {
  burst: 40,
  perSecond: 20,
  maxClients: 10_000,
  exemptRoutes: ['/healthz', '/readyz'],
};

/**
 * A token bucket per source address, checked before anything else (authentication included), so a flood costs one
 * map lookup per request. Keyed by the socket address: the server does not trust X-Forwarded-For.
 */
export function registerRateLimit(app: FastifyInstance, opts: RateLimitOptions): void {
  const limiter = new TokenBucketLimiter(opts);
  const exempt = new Set(opts.exemptRoutes ?? []);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route !== undefined && exempt.has(route)) return;
    const taken = limiter.take(request.ip);
    if (!taken.allowed) {
      throw new HttpError(429, 'too many requests; slow down', { 'retry-after': String(taken.retryAfterSeconds) });
    }
  });
}
