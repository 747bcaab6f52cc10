// The status API's authentication and authorisation against the REAL apiserver: ServiceAccount tokens from the
// TokenRequest API, checked with TokenReview, authorised by RBAC through SubjectAccessReview.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { CachingAuthenticator } from '../../src/http/auth.ts';
import { createHttpServer, startHttpServer } from '../../src/http/server.ts';
import { channelAccess, TokenReviewer } from '../../src/kube/auth.ts';
import { loadKubeConfig } from '../../src/kube/config.ts';
import type { KubeObject } from '../../src/kube/objects.ts';
import { KubeRest } from '../../src/kube/rest.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

const cluster = useCluster();
const CRD = fileURLToPath(new URL('../../crds/incidentchannels.warroom.dev.yaml', import.meta.url));
const suffix = randomBytes(3).toString('hex');
const ns = `http-auth-${suffix}`;
const readerRole = `warroom-http-reader-${suffix}`;
const alphaRole = `warroom-http-alpha-${suffix}`;
const sa = (name: string) => `system:serviceaccount:${ns}:${name}`;

const channels: KubeObject[] = ['alpha', 'bravo'].map((name) => ({
  apiVersion: 'warroom.dev/v1alpha1',
  kind: 'IncidentChannel',
  metadata: { name },
  spec: { caseId: name, participants: [{ handle: 'raven' }] },
  status: { phase: 'Ready' },
}));

let rest: KubeRest;
let reviewer: TokenReviewer;
let app: FastifyInstance;
let base: string;
const tokens: Record<string, string> = {};

async function requestToken(serviceAccount: string): Promise<string> {
  const res = await rest.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`,
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } } },
  );
  return res.status.token;
}

// Everything sits in one suite so its `after` (cleanup through kubectl) runs before useCluster's root `after` stops a
// cluster this file started itself.
describe('status API authentication against the apiserver', () => {
  before(async () => {
    const c = await cluster.ready();
    const k = kubectl(c);
    rest = new KubeRest(loadKubeConfig(c.kubeconfig));
    reviewer = new TokenReviewer(rest);
    await k.exec(['apply', '-f', CRD]);
    await k.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    for (const name of ['reader', 'stranger', 'alpha-only']) {
      await k.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } });
    }
    const rbac = 'rbac.authorization.k8s.io/v1';
    await k.apply({
      apiVersion: rbac,
      kind: 'ClusterRole',
      metadata: { name: readerRole },
      rules: [
        { apiGroups: ['warroom.dev'], resources: ['incidentchannels'], verbs: ['get', 'list'] },
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
      ],
    });
    await k.apply({
      apiVersion: rbac,
      kind: 'ClusterRole',
      metadata: { name: alphaRole },
      rules: [
        { apiGroups: ['warroom.dev'], resources: ['incidentchannels'], resourceNames: ['alpha'], verbs: ['get'] },
      ],
    });
    for (const [role, subject] of [
      [readerRole, 'reader'],
      [alphaRole, 'alpha-only'],
    ] as const) {
      await k.apply({
        apiVersion: rbac,
        kind: 'ClusterRoleBinding',
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: subject, namespace: ns }],
      });
    }
    // RBAC is served from informers: wait until the authorizer sees the bindings, checked independently with kubectl.
    await eventually('RBAC bindings visible to the authorizer', async () => {
      const out = await k.exec(['auth', 'can-i', 'list', 'incidentchannels.warroom.dev', `--as=${sa('reader')}`]);
      return out.trim() === 'yes';
    });
    await eventually('resourceName binding visible to the authorizer', async () => {
      const out = await k.exec([
        'auth',
        'can-i',
        'get',
        'incidentchannels.warroom.dev/alpha',
        `--as=${sa('alpha-only')}`,
      ]);
      return out.trim() === 'yes';
    });
    for (const name of ['reader', 'stranger', 'alpha-only']) tokens[name] = await requestToken(name);

    const metrics = createMetrics({ defaultMetrics: false });
    app = createHttpServer({
      channels: {
        list: () => channels,
        get: (name) => channels.find((ch) => ch.metadata.name === name),
      },
      registry: metrics.registry,
      httpMetrics: metrics.http,
      ready: () => true,
      // Short positive TTL so the revocation test below does not wait the production 10 s.
      auth: new CachingAuthenticator({ reviewer, allowedTtlMs: 1_000, deniedTtlMs: 500 }),
      log: silentLogger(),
      allowAnonymousHealth: false,
      rateLimit: false,
    });
    base = await startHttpServer(app, '127.0.0.1', 0);
  });

  after(async () => {
    await app?.close();
    const c = await cluster.ready();
    const k = kubectl(c);
    await k.exec(['delete', 'clusterrolebinding', readerRole, alphaRole, '--ignore-not-found', '--wait=false']);
    await k.exec(['delete', 'clusterrole', readerRole, alphaRole, '--ignore-not-found', '--wait=false']);
    await k.exec(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  });

  const get = (path: string, token?: string) =>
    fetch(`${base}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  describe('TokenReviewer against the apiserver', () => {
    it('resolves a ServiceAccount token to its user and groups', async () => {
      const review = await reviewer.reviewToken(tokens.reader as string);
      assert.equal(review.authenticated, true);
      assert.ok(review.authenticated);
      assert.equal(review.user.username, sa('reader'));
      assert.ok(review.user.groups?.includes(`system:serviceaccounts:${ns}`));
      assert.ok(review.user.uid, 'the ServiceAccount uid is reported');
    });

    it('says a garbage token is not authenticated (not an error)', async () => {
      assert.deepEqual(await reviewer.reviewToken('not-a-token'), { authenticated: false });
    });

    it('asks RBAC through SubjectAccessReview with the user and groups the TokenReview gave', async () => {
      const reader = await reviewer.reviewToken(tokens.reader as string);
      const stranger = await reviewer.reviewToken(tokens.stranger as string);
      assert.ok(reader.authenticated && stranger.authenticated);
      const allowed = await reviewer.reviewAccess(reader.user, channelAccess('list'));
      assert.equal(allowed.allowed, true);
      assert.match(allowed.reason ?? '', new RegExp(readerRole), 'RBAC names the binding that allowed it');
      assert.equal((await reviewer.reviewAccess(stranger.user, channelAccess('list'))).allowed, false);
    });
  });

  describe('the status API with real tokens', () => {
    it('the bound ServiceAccount gets 200 on list and get', async () => {
      const list = await get('/api/v1/channels', tokens.reader);
      assert.equal(list.status, 200);
      const body = (await list.json()) as { count: number; items: { name: string }[] };
      assert.deepEqual(
        body.items.map((i) => i.name),
        ['alpha', 'bravo'],
      );
      assert.equal((await get('/api/v1/channels/bravo', tokens.reader)).status, 200);
    });

    it('an authenticated ServiceAccount without a binding gets 403', async () => {
      const list = await get('/api/v1/channels', tokens.stranger);
      assert.equal(list.status, 403);
      assert.deepEqual(await list.json(), {
        statusCode: 403,
        error: 'Forbidden',
        message: `user "${sa('stranger')}" may not list incidentchannels.warroom.dev`,
      });
      assert.equal((await get('/api/v1/channels/alpha', tokens.stranger)).status, 403);
    });

    it('a garbage token and a missing token get 401', async () => {
      const garbage = await get('/api/v1/channels', 'eyJhbGciOiJSUzI1NiJ9.garbage.signature');
      assert.equal(garbage.status, 401);
      assert.equal(garbage.headers.get('www-authenticate'), 'Bearer realm="warroom"');
      assert.equal((await get('/api/v1/channels')).status, 401);
    });

    it('resourceNames are honoured: get on alpha only, nothing else', async () => {
      assert.equal((await get('/api/v1/channels/alpha', tokens['alpha-only'])).status, 200);
      assert.equal((await get('/api/v1/channels/bravo', tokens['alpha-only'])).status, 403);
      assert.equal((await get('/api/v1/channels', tokens['alpha-only'])).status, 403);
    });

    it('/metrics needs a non-resource grant on /metrics when anonymous health is off', async () => {
      assert.equal((await get('/metrics', tokens.reader)).status, 200);
      assert.equal((await get('/metrics', tokens.stranger)).status, 403);
      assert.equal((await get('/metrics')).status, 401);
    });

    it('a token stops working once its ServiceAccount is deleted (after the cache TTL)', async () => {
      assert.equal((await get('/api/v1/channels/alpha', tokens['alpha-only'])).status, 200);
      await kubectl(cluster()).exec(['delete', 'serviceaccount', 'alpha-only', '-n', ns]);
      // The apiserver itself caches successful token authentications for 10 s; ours adds at most 1 s here.
      await eventually(
        'the revoked token is refused',
        async () => (await get('/api/v1/channels/alpha', tokens['alpha-only'])).status === 401,
        30_000,
      );
    });
  });
});
