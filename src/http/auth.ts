import { createHmac, randomBytes } from 'node:crypto';
import type { AccessAttributes, AccessReviewer, UserInfo } from '../kube/auth.ts';
import { TtlCache } from './ttl-cache.ts';

export type { AccessAttributes, UserInfo };

export interface AccessDecision {
  allowed: boolean;
  reason?: string;
}

/**
 * What the HTTP layer asks: who is this bearer token (undefined = nobody: 401), and may they do this (403 if not).
 * Both reject when the answer cannot be had (the apiserver is unreachable): the server turns that into a 503.
 */
export interface Authenticator {
  authenticate(token: string): Promise<UserInfo | undefined>;
  authorize(user: UserInfo, attributes: AccessAttributes): Promise<AccessDecision>;
}

export interface CachingAuthenticatorOptions {
  reviewer: AccessReviewer;
  /** How long a positive answer is reused; an RBAC change or a revoked token takes at most this long to apply. */
  allowedTtlMs?: number;
  /** Negative answers expire sooner, so a token that just became valid (or a binding just made) works quickly. */
  deniedTtlMs?: number;
  /** Per cache (authentication, authorisation). */
  maxEntries?: number;
  now?: () => number;
}

export const AUTH_CACHE_DEFAULTS = { allowedTtlMs: 10_000, deniedTtlMs: 2_000, maxEntries: 4_096 } as const;

/**
 * Authenticator over TokenReview/SubjectAccessReview with short-lived caches, so a dashboard polling every second costs
 * the apiserver one review per TTL, not one per request. Tokens are never stored: the cache key is an HMAC of the
 * token under a per-process random key, so even a heap dump cannot be matched against a known token's plain hash.
 * Authorisation is cached by user identity (the only input of a SubjectAccessReview besides the attributes), so
 * many tokens of one ServiceAccount share one decision. Concurrent identical reviews share one in-flight call; a
 * failed review is not cached.
 */
export class CachingAuthenticator implements Authenticator {
  readonly #reviewer: AccessReviewer;
  readonly #allowedTtlMs: number;
  readonly #deniedTtlMs: number;
  readonly #hmacKey = randomBytes(32);
  readonly #users: TtlCache<UserInfo | null>;
  readonly #decisions: TtlCache<AccessDecision>;
  readonly #inflight = new Map<string, Promise<unknown>>();

  constructor(opts: CachingAuthenticatorOptions) {
    this.#reviewer = opts.reviewer;
    this.#allowedTtlMs = opts.allowedTtlMs ?? AUTH_CACHE_DEFAULTS.allowedTtlMs;
    this.#deniedTtlMs = opts.deniedTtlMs ?? AUTH_CACHE_DEFAULTS.deniedTtlMs;
    const cacheOpts = {
      maxEntries: opts.maxEntries ?? AUTH_CACHE_DEFAULTS.maxEntries,
      ...(opts.now && { now: opts.now }),
    };
    this.#users = new TtlCache(cacheOpts);
    this.#decisions = new TtlCache(cacheOpts);
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    const key = `authn:${this.#digest(token)}`;
    const cached = this.#users.get(key);
    if (cached !== undefined) return cached ?? undefined;
    return this.#once(key, async () => {
      const review = await this.#reviewer.reviewToken(token);
      const user = review.authenticated ? review.user : null;
      this.#users.set(key, user, user ? this.#allowedTtlMs : this.#deniedTtlMs);
      return user ?? undefined;
    });
  }

  async authorize(user: UserInfo, attributes: AccessAttributes): Promise<AccessDecision> {
    const key = `authz:${this.#digest(JSON.stringify([userKey(user), attributesKey(attributes)]))}`;
    const cached = this.#decisions.get(key);
    if (cached) return cached;
    return this.#once(key, async () => {
      const decision = await this.#reviewer.reviewAccess(user, attributes);
      this.#decisions.set(key, decision, decision.allowed ? this.#allowedTtlMs : this.#deniedTtlMs);
      return decision;
    });
  }

  #digest(value: string): string {
    return createHmac('sha256', this.#hmacKey).update(value).digest('base64url');
  }

  #once<T>(key: string, review: () => Promise<T>): Promise<T> {
    const pending = this.#inflight.get(key);
    if (pending) return pending as Promise<T>;
    const started = review().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, started);
    return started;
  }
}

/** A canonical form: the same user with groups or extra listed in another order is the same key. */
function userKey(user: UserInfo): unknown[] {
  const extra = Object.entries(user.extra ?? {})
    .map(([k, v]) => [k, [...v].sort()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [user.username, user.uid ?? '', [...(user.groups ?? [])].sort(), extra];
}

function attributesKey(a: AccessAttributes): unknown[] {
  return a.kind === 'resource'
    ? [a.kind, a.verb, a.group, a.resource, a.namespace ?? '', a.name ?? '']
    : [a.kind, a.verb, a.path];
}
