// Who may call what. Every route declares an `access` policy in its config; a matched route without one is refused
// (fail closed). Authentication runs first (onRequest: 401 before anything else, so anonymous callers learn nothing
// about parameters), authorisation after validation (preHandler: the SubjectAccessReview names a validated object).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessAttributes, Authenticator, UserInfo } from './auth.ts';
import { HttpError } from './errors.ts';

export interface RouteAccess {
  /** A probe or scrape endpoint: anonymous when the server allows anonymous health, authorised by path otherwise. */
  health?: boolean;
  /** What to ask the authorizer; omitted means any authenticated caller may use the route. */
  attributes?: (request: FastifyRequest) => AccessAttributes;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

export interface AccessOptions {
  auth: Authenticator;
  allowAnonymousHealth: boolean;
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** Service-account JWTs are 1–2 KiB; anything far larger is not a token and not worth a TokenReview. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const CHALLENGE = { 'www-authenticate': 'Bearer realm="warroom"' };

export function bearerToken(header: string | undefined): string | undefined {
  if (!header || header.length > MAX_TOKEN_LENGTH + 16) return undefined;
  return BEARER.exec(header)?.[1];
}

/** The user onRequest authenticated, for preHandler to authorise (a WeakMap: no request decoration, no leak). */
const users = new WeakMap<FastifyRequest, UserInfo>();

/** The path a non-resource SubjectAccessReview names: the route pattern, which for health routes is the path. */
const routePath = (request: FastifyRequest) => request.routeOptions.url ?? request.url.split('?')[0] ?? '/';

export function registerAccessControl(app: FastifyInstance, opts: AccessOptions): void {
  const policyOf = (request: FastifyRequest): RouteAccess | undefined => {
    if (request.routeOptions.url === undefined) return undefined; // unmatched: the 404 handler answers
    const access = request.routeOptions.config.access;
    if (!access) {
      request.log.error({ route: request.routeOptions.url }, 'route has no access policy: refusing it');
      throw new HttpError(500, 'route has no access policy');
    }
    return access;
  };
  const anonymous = (access: RouteAccess) => access.health === true && opts.allowAnonymousHealth;

  app.addHook('onRequest', async (request) => {
    const access = policyOf(request);
    if (!access || anonymous(access)) return;
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new HttpError(401, 'a bearer token is required', CHALLENGE);
    let user: UserInfo | undefined;
    try {
      user = await opts.auth.authenticate(token);
    } catch (err) {
      request.log.error({ err }, 'token review failed');
      throw new HttpError(503, 'authentication is unavailable; retry later', { 'retry-after': '1' });
    }
    if (!user) throw new HttpError(401, 'the bearer token is not valid', CHALLENGE);
    users.set(request, user);
  });

  app.addHook('preHandler', async (request) => {
    const access = policyOf(request);
    if (!access || anonymous(access)) return;
    const user = users.get(request);
    if (!user) throw new HttpError(401, 'a bearer token is required', CHALLENGE);
    const attributes: AccessAttributes | undefined =
      access.attributes?.(request) ??
      (access.health ? { kind: 'nonResource', verb: 'get', path: routePath(request) } : undefined);
    if (!attributes) return;
    let decision: Awaited<ReturnType<Authenticator['authorize']>>;
    try {
      decision = await opts.auth.authorize(user, attributes);
    } catch (err) {
      request.log.error({ err }, 'access review failed');
      throw new HttpError(503, 'authorization is unavailable; retry later', { 'retry-after': '1' });
    }
    if (!decision.allowed) {
      request.log.info({ user: user.username, route: request.routeOptions.url, attributes }, 'access denied');
      throw new HttpError(403, `user "${user.username}" may not ${describe(attributes)}`);
    }
  });
}

function describe(a: AccessAttributes): string {
  if (a.kind === 'nonResource') return `${a.verb} ${a.path}`;
  const what = a.group ? `${a.resource}.${a.group}` : a.resource;
  return a.name ? `${a.verb} ${what} "${a.name}"` : `${a.verb} ${what}`;
}
