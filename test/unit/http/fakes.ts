// In-memory stand-ins for the status API's dependencies: a channel cache and an Authenticator with a fixed token
// table and RBAC-like grants. They replace our own components, not a real peer.
import type { FastifyInstance } from 'fastify';
import type { AccessAttributes, AccessDecision, Authenticator, UserInfo } from '../../../src/http/auth.ts';
import type { RateLimitOptions } from '../../../src/http/rate-limit.ts';
import { createHttpServer } from '../../../src/http/server.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';
import { type Logger, silentLogger } from '../../../src/observability/logger.ts';
import { createMetrics, type Metrics } from '../../../src/observability/metrics.ts';

export const NOW = Date.parse('2030-01-01T12:00:00Z');

export function channel(
  name: string,
  status: Record<string, unknown> = {},
  extra: Partial<KubeObject> = {},
): KubeObject {
  return {
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, generation: 2, creationTimestamp: '2030-01-01T10:00:00Z' },
    spec: {
      caseId: `case-${name}`,
      severity: 'high',
      ttl: '72h',
      participants: [{ handle: 'raven', role: 'lead' }, { handle: 'owl' }],
    },
    status,
    ...extra,
  };
}

/** The reflector's cache as the routes see it: objects, and a version that changes with them. */
export class MemoryChannels {
  readonly #objects = new Map<string, KubeObject>();
  version = 0;

  constructor(objects: KubeObject[] = []) {
    for (const o of objects) this.put(o);
  }

  put(o: KubeObject): void {
    this.#objects.set(o.metadata.name, o);
    this.version++;
  }

  list(): KubeObject[] {
    return [...this.#objects.values()];
  }

  get(name: string): KubeObject | undefined {
    return this.#objects.get(name);
  }
}

/** token → user; grants are "verb resource [name]" or "get /path" strings per username. */
export class FakeAuthenticator implements Authenticator {
  readonly tokens = new Map<string, UserInfo>();
  readonly grants = new Map<string, Set<string>>();
  readonly asked: { user: string; attributes: AccessAttributes }[] = [];
  authentications = 0;
  failWith: Error | undefined;

  addUser(token: string, username: string, grants: string[]): this {
    this.tokens.set(token, { username, groups: ['system:authenticated'] });
    this.grants.set(username, new Set(grants));
    return this;
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    this.authentications++;
    if (this.failWith) throw this.failWith;
    return this.tokens.get(token);
  }

  async authorize(user: UserInfo, attributes: AccessAttributes): Promise<AccessDecision> {
    if (this.failWith) throw this.failWith;
    this.asked.push({ user: user.username, attributes });
    const grants = this.grants.get(user.username) ?? new Set();
    const wanted =
      attributes.kind === 'nonResource'
        ? [`${attributes.verb} ${attributes.path}`]
        : [
            `${attributes.verb} ${attributes.resource}`,
            ...(attributes.name ? [`${attributes.verb} ${attributes.resource} ${attributes.name}`] : []),
          ];
    return { allowed: wanted.some((w) => grants.has(w)) };
  }
}

export interface TestServer {
  app: FastifyInstance;
  auth: FakeAuthenticator;
  channels: MemoryChannels;
  metrics: Metrics;
  setReady(ready: boolean): void;
}

export function testServer(
  opts: {
    channels?: KubeObject[];
    allowAnonymousHealth?: boolean;
    rateLimit?: RateLimitOptions | false;
    log?: Logger;
    now?: () => number;
  } = {},
): TestServer {
  const auth = new FakeAuthenticator()
    .addUser('reader-token', 'reader', ['list incidentchannels', 'get incidentchannels', 'get /metrics'])
    .addUser('one-token', 'one-channel', ['get incidentchannels alpha'])
    .addUser('nobody-token', 'nobody', []);
  const channels = new MemoryChannels(opts.channels ?? []);
  const metrics = createMetrics({ defaultMetrics: false });
  let ready = true;
  const app = createHttpServer({
    channels,
    registry: metrics.registry,
    httpMetrics: metrics.http,
    ready: () => ready,
    auth,
    log: opts.log ?? silentLogger(),
    allowAnonymousHealth: opts.allowAnonymousHealth ?? true,
    rateLimit: opts.rateLimit ?? false,
    now: opts.now ?? (() => NOW),
  });
  return { app, auth, channels, metrics, setReady: (r) => (ready = r) };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
