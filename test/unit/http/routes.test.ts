import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createLogger } from '../../../src/observability/logger.ts';
import { bearer, channel, NOW, testServer } from './fakes.ts';

const HEAD_HASH = 'a'.repeat(64);
const ARCHIVE_HASH = 'b'.repeat(64);

const ready = channel('alpha', {
  phase: 'Ready',
  namespace: 'wr-alpha-1a2b3c',
  expiresAt: '2030-01-02T12:00:00Z',
  participantCount: 2,
  observedGeneration: 2,
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Provisioned',
      message: 'war room ready',
      lastTransitionTime: '2030-01-01T10:01:00Z',
      observedGeneration: 2,
    },
  ],
  endpoints: {
    element: 'https://chat.inc.example.org',
    homeserver: 'https://matrix.inc.example.org',
    turn: ['turn:turn.inc.example.org:3478?transport=udp'],
  },
  recording: { events: 42, headHash: HEAD_HASH },
});
const provisioning = channel('bravo', { phase: 'Provisioning', namespace: 'wr-bravo-4d5e6f' });
const fresh = channel('charlie'); // no status yet: Pending

describe('health and readiness', () => {
  it('/healthz is 200 without a token when anonymous health is allowed', async () => {
    const { app } = testServer();
    const res = await app.inject({ url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  it('/readyz follows ready(): 200, then 503 when the operator is not ready', async () => {
    const { app, setReady } = testServer();
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
    setReady(false);
    const res = await app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { status: 'unavailable' });
  });

  it('without anonymous health, probes and metrics need a token and a non-resource grant on the path', async () => {
    const { app, auth } = testServer({ allowAnonymousHealth: false });
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/metrics', headers: bearer('nobody-token') })).statusCode, 403);
    const ok = await app.inject({ url: '/metrics', headers: bearer('reader-token') });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(auth.asked.at(-1), {
      user: 'reader',
      attributes: { kind: 'nonResource', verb: 'get', path: '/metrics' },
    });
  });
});

describe('/metrics', () => {
  it('serves the registry in the Prometheus text format, with request metrics labelled by route pattern', async () => {
    const { app } = testServer({ channels: [ready] });
    await app.inject({ url: '/api/v1/channels/alpha', headers: bearer('reader-token') });
    await app.inject({ url: '/api/v1/channels/nope', headers: bearer('reader-token') });
    await app.inject({ url: '/no/such/thing?x=1' });
    const res = await app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^# TYPE warroom_channels gauge$/m);
    assert.match(res.body, /^http_requests_total\{route="\/api\/v1\/channels\/:name",method="GET",code="200"\} 1$/m);
    assert.match(res.body, /^http_requests_total\{route="\/api\/v1\/channels\/:name",method="GET",code="404"\} 1$/m);
    assert.match(res.body, /^http_requests_total\{route="unmatched",method="GET",code="404"\} 1$/m);
    assert.match(
      res.body,
      /^http_request_duration_seconds_count\{route="\/api\/v1\/channels\/:name",method="GET"\} 2$/m,
    );
    assert.doesNotMatch(res.body, /alpha|nope|no\/such/, 'no raw URL or object name in any label');
  });
});

describe('GET /api/v1/channels', () => {
  it('401 without a token, with a malformed header, and with an unknown token', async () => {
    const { app } = testServer({ channels: [ready] });
    for (const headers of [
      {},
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer' },
      bearer('forged'),
    ]) {
      const res = await app.inject({ url: '/api/v1/channels', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="warroom"');
      assert.equal(res.json().error, 'Unauthorized');
    }
  });

  it('403 for a user without list, asking the authorizer for list on incidentchannels.warroom.dev', async () => {
    const { app, auth } = testServer({ channels: [ready] });
    const res = await app.inject({ url: '/api/v1/channels', headers: bearer('one-token') });
    assert.equal(res.statusCode, 403);
    assert.deepEqual(res.json(), {
      statusCode: 403,
      error: 'Forbidden',
      message: 'user "one-channel" may not list incidentchannels.warroom.dev',
    });
    assert.deepEqual(auth.asked.at(-1)?.attributes, {
      kind: 'resource',
      verb: 'list',
      group: 'warroom.dev',
      resource: 'incidentchannels',
    });
  });

  it('200 lists every channel sorted by name, with phase, expiry and counts', async () => {
    const { app } = testServer({ channels: [provisioning, fresh, ready] });
    const res = await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.count, 3);
    assert.deepEqual(
      body.items.map((c: { name: string; phase: string }) => [c.name, c.phase]),
      [
        ['alpha', 'Ready'],
        ['bravo', 'Provisioning'],
        ['charlie', 'Pending'],
      ],
    );
    assert.deepEqual(body.items[0], {
      name: 'alpha',
      caseId: 'case-alpha',
      severity: 'high',
      phase: 'Ready',
      ready: true,
      deleting: false,
      namespace: 'wr-alpha-1a2b3c',
      createdAt: '2030-01-01T10:00:00Z',
      expiresAt: '2030-01-02T12:00:00Z',
      secondsLeft: 86_400,
      participantCount: 2,
    });
  });

  it('filters by ?phase=, including channels without a status as Pending', async () => {
    const { app } = testServer({ channels: [provisioning, fresh, ready] });
    const names = async (phase: string) => {
      const res = await app.inject({ url: `/api/v1/channels?phase=${phase}`, headers: bearer('reader-token') });
      assert.equal(res.statusCode, 200);
      return res.json().items.map((c: { name: string }) => c.name);
    };
    assert.deepEqual(await names('Ready'), ['alpha']);
    assert.deepEqual(await names('Pending'), ['charlie']);
    assert.deepEqual(await names('Closed'), []);
  });

  it('400 for an unknown phase, a repeated phase and an unknown query parameter', async () => {
    const { app } = testServer({ channels: [ready] });
    for (const query of ['phase=Bogus', 'phase=Ready&phase=Failed', 'phse=Ready']) {
      const res = await app.inject({ url: `/api/v1/channels?${query}`, headers: bearer('reader-token') });
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().error, 'Bad Request');
      assert.match(res.json().message, /^querystring/);
    }
  });

  it('answers 401 before 400: an anonymous caller learns nothing about parameters', async () => {
    const { app } = testServer();
    assert.equal((await app.inject({ url: '/api/v1/channels?phase=Bogus' })).statusCode, 401);
  });
  it('serves one body per cache version and second: a change in the cache or the clock shows at once', async () => {
    const { app, channels } = testServer({ channels: [ready] });
    const get = async () => (await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') })).json();
    const first = await get();
    assert.deepEqual(await get(), first);
    channels.put(provisioning);
    const changed = await get();
    assert.equal(changed.count, 2);
    // A field the response schema does not allow never reaches a cached body either.
    channels.put(channel('delta', { phase: 'Ready', secretValue: 'hunter2' } as Record<string, unknown>));
    const text = (await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') })).body;
    assert.doesNotMatch(text, /hunter2/);
  });
});

describe('GET /api/v1/channels: pages, ETag and gzip', () => {
  const many = Array.from({ length: 7 }, (_, i) =>
    channel(`ch-${i}`, { phase: 'Ready', expiresAt: '2030-01-02T12:00:00Z' }),
  );
  const reader = bearer('reader-token');

  it('pages with limit/continue in name order, then says nothing more; a bad token is a 400', async () => {
    const { app } = testServer({ channels: many });
    const seen: string[] = [];
    let token: string | undefined;
    const remaining: number[] = [];
    for (let page = 0; page < 10; page++) {
      const query = `limit=3${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
      const res = await app.inject({ url: `/api/v1/channels?${query}`, headers: reader });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.count, body.items.length);
      seen.push(...body.items.map((c: { name: string }) => c.name));
      token = body.continue;
      if (!token) {
        assert.equal(body.remainingItemCount, undefined);
        break;
      }
      remaining.push(body.remainingItemCount);
    }
    assert.deepEqual(
      seen,
      many.map((c) => c.metadata.name),
    );
    assert.deepEqual(remaining, [4, 1]);
    for (const query of ['continue=nonsense', 'limit=0', 'limit=x']) {
      const res = await app.inject({ url: `/api/v1/channels?${query}`, headers: reader });
      assert.equal(res.statusCode, 400, query);
    }
  });

  it('answers If-None-Match with 304 while the body is the same, and 200 with a new tag once it changes', async () => {
    const { app, channels } = testServer({ channels: many });
    const first = await app.inject({ url: '/api/v1/channels', headers: reader });
    const etag = first.headers.etag;
    assert.match(String(etag), /^"[A-Za-z0-9_-]+"$/);
    assert.equal(first.headers['cache-control'], 'private, no-cache');
    const again = await app.inject({ url: '/api/v1/channels', headers: { ...reader, 'if-none-match': String(etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    assert.equal(again.headers.etag, etag);
    channels.put(channel('zulu', { phase: 'Provisioning' }));
    const changed = await app.inject({
      url: '/api/v1/channels',
      headers: { ...reader, 'if-none-match': String(etag) },
    });
    assert.equal(changed.statusCode, 200);
    assert.notEqual(changed.headers.etag, etag);
    assert.equal(changed.json().count, 8);
  });

  it('304 and the cached body still need a token and the list grant', async () => {
    const { app } = testServer({ channels: many });
    const etag = String((await app.inject({ url: '/api/v1/channels', headers: reader })).headers.etag);
    assert.equal((await app.inject({ url: '/api/v1/channels', headers: { 'if-none-match': etag } })).statusCode, 401);
    const denied = await app.inject({
      url: '/api/v1/channels',
      headers: { ...bearer('one-token'), 'if-none-match': etag },
    });
    assert.equal(denied.statusCode, 403);
  });

  it('gzip when asked for, the same JSON; plain otherwise and for gzip;q=0', async () => {
    const { app } = testServer({ channels: many });
    const plain = await app.inject({ url: '/api/v1/channels', headers: reader });
    assert.equal(plain.headers['content-encoding'], undefined);
    const zipped = await app.inject({ url: '/api/v1/channels', headers: { ...reader, 'accept-encoding': 'br, gzip' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(zipped.headers.vary, 'accept-encoding');
    assert.deepEqual(JSON.parse(gunzipSync(zipped.rawPayload).toString('utf8')), plain.json());
    const refused = await app.inject({
      url: '/api/v1/channels',
      headers: { ...reader, 'accept-encoding': 'gzip;q=0' },
    });
    assert.equal(refused.headers['content-encoding'], undefined);
  });

  it('the countdown follows the clock in a cached list', async () => {
    let now = NOW;
    const { app } = testServer({ channels: many, now: () => now });
    const left = async () =>
      (await app.inject({ url: '/api/v1/channels?limit=1', headers: reader })).json().items[0].secondsLeft;
    assert.equal(await left(), 86_400);
    now += 61_000;
    assert.equal(await left(), 86_339);
  });
});

describe('GET /api/v1/channels/:name', () => {
  it('200 with phase, conditions, expiry, endpoints, participants, recording and namespace', async () => {
    const { app } = testServer({ channels: [ready] });
    const res = await app.inject({ url: '/api/v1/channels/alpha', headers: bearer('reader-token') });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      name: 'alpha',
      caseId: 'case-alpha',
      severity: 'high',
      phase: 'Ready',
      ready: true,
      deleting: false,
      namespace: 'wr-alpha-1a2b3c',
      createdAt: '2030-01-01T10:00:00Z',
      expiresAt: '2030-01-02T12:00:00Z',
      secondsLeft: 86_400,
      participantCount: 2,
      closed: false,
      generation: 2,
      observedGeneration: 2,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Provisioned',
          message: 'war room ready',
          lastTransitionTime: '2030-01-01T10:01:00Z',
          observedGeneration: 2,
        },
      ],
      endpoints: {
        element: 'https://chat.inc.example.org',
        homeserver: 'https://matrix.inc.example.org',
        turn: ['turn:turn.inc.example.org:3478?transport=udp'],
      },
      recording: { events: 42, headHash: HEAD_HASH },
    });
  });

  it('authorises get on the named object: a user granted one channel reads it, not another', async () => {
    const { app, auth } = testServer({ channels: [ready, provisioning] });
    assert.equal((await app.inject({ url: '/api/v1/channels/alpha', headers: bearer('one-token') })).statusCode, 200);
    assert.deepEqual(auth.asked.at(-1)?.attributes, {
      kind: 'resource',
      verb: 'get',
      group: 'warroom.dev',
      resource: 'incidentchannels',
      name: 'alpha',
    });
    assert.equal((await app.inject({ url: '/api/v1/channels/bravo', headers: bearer('one-token') })).statusCode, 403);
  });

  it('404 for a missing channel, but 403 first for someone who may not get it (no existence oracle)', async () => {
    const { app } = testServer({ channels: [ready] });
    const missing = await app.inject({ url: '/api/v1/channels/zulu', headers: bearer('reader-token') });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), {
      statusCode: 404,
      error: 'Not Found',
      message: 'incidentchannel "zulu" not found',
    });
    assert.equal((await app.inject({ url: '/api/v1/channels/zulu', headers: bearer('nobody-token') })).statusCode, 403);
  });

  it('400 for a name that is not a Kubernetes object name (upper case, too long), without asking the authorizer', async () => {
    const { app, auth } = testServer({ channels: [ready] });
    for (const name of ['Alpha', 'a_b', 'x'.repeat(254), '-a']) {
      const before = auth.asked.length;
      const res = await app.inject({ url: `/api/v1/channels/${name}`, headers: bearer('reader-token') });
      assert.equal(res.statusCode, 400, name.slice(0, 20));
      assert.match(res.json().message, /^params\.name: /);
      assert.equal(auth.asked.length, before, 'no SubjectAccessReview for an invalid name');
    }
  });

  it('never returns secret or private fields, whatever junk the status, spec or metadata hold', async () => {
    const junk = channel(
      'delta',
      {
        phase: 'Archiving',
        credentialsSecret: 'SECRETNAME-creds',
        password: 'SECRET-password',
        registrationSharedSecret: 'SECRET-rss',
        conditions: [
          { type: 'Ready', status: 'False', reason: 'Archiving', message: 'exporting', token: 'SECRET-cond-token' },
          { type: 42, status: 'True', reason: 'Bad', message: 'SECRET-bad-condition' },
        ],
        endpoints: {
          element: 'https://SECRETUSER:SECRETPASS@chat.example.org/?access_token=SECRET-q#SECRET-frag',
          homeserver: { url: 'SECRET-object' },
          adminToken: 'SECRET-admin',
          turn: ['turn:turn.example.org:3478', 7, { secret: 'SECRET-turn' }],
        },
        recording: { events: -1, headHash: 'SECRET-not-hex', signingKey: 'SECRET-key' },
        archive: {
          location: 's3://evidence/inc/bundle.tgz?X-Amz-Signature=SECRET-sig&X-Amz-Credential=SECRET-cred',
          sha256: 'b'.repeat(64),
          verifiedAt: '2030-01-01T11:00:00Z',
          accessKey: 'SECRET-access-key',
        },
        expiresAt: 'SECRET-not-a-date',
        participantCount: 'SECRET-not-a-number',
      },
      {
        metadata: {
          name: 'delta',
          annotations: { note: 'SECRET-annotation' },
          labels: { x: 'SECRET-label' },
          uid: 'SECRET-uid',
        },
      },
    );
    (junk.spec as Record<string, unknown>).participants = [{ handle: 'SECRET-handle' }];
    (junk.spec as Record<string, unknown>).access = { users: ['SECRET-user'] };
    const { app } = testServer({ channels: [junk] });
    for (const url of ['/api/v1/channels/delta', '/api/v1/channels', '/api/v1/channels?phase=Archiving']) {
      const res = await app.inject({ url, headers: bearer('reader-token') });
      assert.equal(res.statusCode, 200, url);
      assert.doesNotMatch(res.body, /SECRET/, `${url}: ${res.body}`);
    }
    const detail = (await app.inject({ url: '/api/v1/channels/delta', headers: bearer('reader-token') })).json();
    assert.equal(detail.endpoints.element, 'https://chat.example.org/');
    assert.deepEqual(detail.endpoints.turn, ['turn:turn.example.org:3478']);
    assert.equal(detail.archive.location, 's3://evidence/inc/bundle.tgz');
    assert.equal(detail.archive.sha256, ARCHIVE_HASH);
    assert.equal(detail.participantCount, 1, 'counted from the spec when the status count is not a number');
    assert.deepEqual(detail.recording, {});
    assert.deepEqual(
      detail.conditions.map((c: { type: string }) => c.type),
      ['Ready'],
    );
  });
});

describe('errors, rate limit and OpenAPI', () => {
  it('fails closed: a route registered without an access policy is refused, even with a valid token', async () => {
    const { app } = testServer();
    app.get('/debug', async () => ({ leaked: true }));
    for (const headers of [{}, bearer('reader-token')]) {
      const res = await app.inject({ url: '/debug', headers });
      assert.equal(res.statusCode, 500);
      assert.doesNotMatch(res.body, /leaked/);
    }
  });

  it('unknown routes are JSON 404s, also for other methods', async () => {
    const { app } = testServer();
    for (const [method, url] of [
      ['GET', '/api/v2/channels'],
      ['DELETE', '/api/v1/channels/alpha'],
    ] as const) {
      const res = await app.inject({ method, url });
      assert.equal(res.statusCode, 404);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.json().error, 'Not Found');
    }
  });

  it('a flood from one client gets 429 with Retry-After once its burst is spent; probes stay exempt', async () => {
    let now = 0;
    const { app, metrics } = testServer({
      channels: [ready],
      rateLimit: { burst: 5, perSecond: 2, exemptRoutes: ['/healthz', '/readyz'], now: () => now },
    });
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      codes.push((await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') })).statusCode);
    }
    assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') });
    assert.equal(limited.json().error, 'Too Many Requests');
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'probes are never limited');
    assert.equal((await app.inject({ url: '/nothing-here' })).statusCode, 429, 'unknown routes count too');
    now += 1000;
    assert.equal((await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') })).statusCode, 200);
    const text = await metrics.registry.metrics();
    assert.match(text, /^http_requests_total\{route="\/api\/v1\/channels",method="GET",code="429"\} 4$/m);
  });

  it('a flood is limited before authentication: no token reviews for rejected requests', async () => {
    const { app, auth } = testServer({ rateLimit: { burst: 2, perSecond: 0.001 } });
    for (let i = 0; i < 5; i++) await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') });
    assert.equal(auth.authentications, 2);
    assert.equal(auth.asked.length, 2);
  });

  it('limits per source address, and a spoofed X-Forwarded-For does not buy a fresh bucket', async () => {
    const { app } = testServer({ rateLimit: { burst: 1, perSecond: 0.001 } });
    const get = (remoteAddress: string, headers: Record<string, string> = {}) =>
      app.inject({ url: '/api/v1/channels', remoteAddress, headers: { ...bearer('reader-token'), ...headers } });
    assert.equal((await get('10.0.0.1')).statusCode, 200);
    assert.equal((await get('10.0.0.1', { 'x-forwarded-for': '192.0.2.77' })).statusCode, 429);
    assert.equal((await get('10.0.0.2')).statusCode, 200, 'another client has its own bucket');
  });

  it('503 with Retry-After when the authenticator cannot reach the apiserver', async () => {
    const { app, auth } = testServer({ channels: [ready] });
    auth.failWith = new Error('connect ECONNREFUSED');
    const res = await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '1');
    assert.doesNotMatch(res.body, /ECONNREFUSED/, 'internal error details stay in the log');
  });

  it('serves the OpenAPI 3 document to authenticated callers, describing routes, parameters and schemas', async () => {
    const { app } = testServer();
    assert.equal((await app.inject({ url: '/openapi.json' })).statusCode, 401);
    const res = await app.inject({ url: '/openapi.json', headers: bearer('nobody-token') });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.openapi, '3.0.3');
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      '/api/v1/channels',
      '/api/v1/channels/{name}',
      '/healthz',
      '/metrics',
      '/readyz',
    ]);
    const list = doc.paths['/api/v1/channels'].get;
    assert.deepEqual(list.security, [{ bearer: [] }]);
    const phase = list.parameters.find((p: { name: string }) => p.name === 'phase');
    assert.equal(phase.in, 'query');
    assert.ok(phase.schema.enum.includes('Ready'));
    assert.deepEqual(Object.keys(list.responses).sort(), ['200', '304', '400', '401', '403', '429', '503']);
    for (const name of ['limit', 'continue']) {
      assert.ok(
        list.parameters.some((p: { name: string }) => p.name === name),
        name,
      );
    }
    const get = doc.paths['/api/v1/channels/{name}'].get;
    assert.equal(get.parameters[0].in, 'path');
    const detail = get.responses['200'].content['application/json'].schema;
    for (const field of ['phase', 'conditions', 'expiresAt', 'secondsLeft', 'endpoints', 'recording', 'archive']) {
      assert.ok(field in detail.properties, field);
    }
    assert.ok(!('credentialsSecret' in detail.properties));
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
  });

  it('never writes a bearer token to the log: not on 401, 403, 503 nor success', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger({ level: 'trace', destination });
    const { app, auth } = testServer({ channels: [ready], log });
    await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') });
    await app.inject({ url: '/api/v1/channels', headers: bearer('nobody-token') });
    await app.inject({ url: '/api/v1/channels', headers: bearer('unknown-token-value') });
    auth.failWith = new Error('apiserver down');
    await app.inject({ url: '/api/v1/channels', headers: bearer('reader-token') });
    const text = lines.join('');
    assert.match(text, /access denied/, 'the 403 was logged (with the user name)');
    assert.match(text, /token review failed/);
    assert.doesNotMatch(text, /reader-token|nobody-token|unknown-token-value/);
  });
});
