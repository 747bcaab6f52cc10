// npm run bench -- http-api: GET /api/v1/channels with 500 channels in the in-memory source, on loopback.
//   warm:  one token, so authentication and authorisation come from the 10 s cache;
//   cold:  a distinct token per request, so every request pays a TokenReview (authorisation stays cached: it is
//          keyed by user, and every token here is the same user).
// The reviewer is a FAKE with a 2 ms delay per review, standing in for the apiserver round trip (a TokenReview
// on a nearby apiserver typically takes 1-5 ms); no apiserver is involved. The server runs in a child process so the
// load generator does not share its event loop. Each scenario runs BENCH_SECONDS (default 5) after a 1 s warm-up.
import { type ChildProcess, fork } from 'node:child_process';
import autocannon, { type Result } from 'autocannon';
import { CachingAuthenticator } from '../src/http/auth.ts';
import { createHttpServer, startHttpServer } from '../src/http/server.ts';
import type { AccessReviewer } from '../src/kube/auth.ts';
import type { KubeObject } from '../src/kube/objects.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { createMetrics } from '../src/observability/metrics.ts';

const CHANNELS = 500;
const REVIEW_DELAY_MS = 2;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function channels(n: number): KubeObject[] {
  const phases = ['Ready', 'Ready', 'Ready', 'Provisioning', 'Expiring', 'Closed'];
  return Array.from({ length: n }, (_, i) => {
    const name = `inc-${String(i).padStart(4, '0')}`;
    return {
      apiVersion: 'warroom.dev/v1alpha1',
      kind: 'IncidentChannel',
      metadata: { name, generation: 3, creationTimestamp: '2030-01-01T00:00:00Z' },
      spec: {
        caseId: name,
        severity: 'high',
        ttl: '72h',
        participants: Array.from({ length: 8 }, (_, p) => ({ handle: `p${p}`, role: p === 0 ? 'lead' : 'responder' })),
      },
      status: {
        phase: phases[i % phases.length],
        namespace: `wr-${name}-a1b2c3`,
        expiresAt: '2030-01-04T00:00:00Z',
        participantCount: 8,
        conditions: ['Ready', 'Reconciling', 'Stalled', 'NamespaceReady'].map((type) => ({
          type,
          status: type === 'Ready' || type === 'NamespaceReady' ? 'True' : 'False',
          reason: 'Provisioned',
          message: 'desired state applied',
          lastTransitionTime: '2030-01-01T00:01:00Z',
          observedGeneration: 3,
        })),
        endpoints: { element: `https://chat.${name}.example.org`, homeserver: `https://matrix.${name}.example.org` },
        recording: { events: 1000 + i, headHash: 'a'.repeat(64) },
      },
    };
  });
}

/** The child: serves the API and reports how many reviews the fake reviewer answered. */
async function serve(): Promise<void> {
  const counts = { tokenReviews: 0, accessReviews: 0 };
  const reviewer: AccessReviewer = {
    reviewToken: async (token) => {
      counts.tokenReviews++;
      await sleep(REVIEW_DELAY_MS);
      return token.startsWith('bench-')
        ? { authenticated: true, user: { username: 'bench' } }
        : { authenticated: false };
    },
    reviewAccess: async () => {
      counts.accessReviews++;
      await sleep(REVIEW_DELAY_MS);
      return { allowed: true };
    },
  };
  const all = channels(CHANNELS);
  const byName = new Map(all.map((c) => [c.metadata.name, c]));
  const metrics = createMetrics();
  const app = createHttpServer({
    channels: { list: () => all, get: (name) => byName.get(name) },
    registry: metrics.registry,
    httpMetrics: metrics.http,
    ready: () => true,
    auth: new CachingAuthenticator({ reviewer }),
    log: silentLogger(),
    allowAnonymousHealth: true,
    rateLimit: false,
  });
  const url = await startHttpServer(app, '127.0.0.1', 0);
  process.on('message', (msg) => {
    if (msg === 'stats') {
      process.send?.({ ...counts });
      counts.tokenReviews = 0;
      counts.accessReviews = 0;
    }
  });
  process.on('disconnect', () => void app.close().then(() => process.exit(0)));
  process.send?.({ url });
}

function ask<T>(child: ChildProcess, message?: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    if (message) child.send(message);
  });
}

async function main(): Promise<void> {
  const child = fork(new URL(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const { url } = await ask<{ url: string }>(child);
    const path = '/api/v1/channels';
    let n = 0;
    const warm = { url: url + path, headers: { authorization: 'Bearer bench-warm-token' }, connections: CONNECTIONS };
    const cold = {
      url: url + path,
      connections: CONNECTIONS,
      requests: [
        {
          setupRequest: (req: { headers?: Record<string, string> }) => ({
            ...req,
            headers: { ...req.headers, authorization: `Bearer bench-cold-${process.pid}-${n++}` },
          }),
        },
      ],
    };
    const rows: { scenario: string; r: Result; reviews: { tokenReviews: number; accessReviews: number } }[] = [];
    for (const [scenario, opts] of [
      ['warm auth cache', warm],
      ['cold auth cache', cold],
    ] as const) {
      await autocannon({ ...opts, duration: 1 }); // JIT and connection warm-up, not measured
      await ask(child, 'stats');
      const r = await autocannon({ ...opts, duration: SECONDS });
      rows.push({ scenario, r, reviews: await ask(child, 'stats') });
    }
    console.log(
      `http-api: GET ${path}, ${CHANNELS} channels, ${CONNECTIONS} connections, ${SECONDS} s per scenario, ` +
        `loopback; fake reviewer ${REVIEW_DELAY_MS} ms per TokenReview/SubjectAccessReview (no apiserver)`,
    );
    for (const { scenario, r, reviews } of rows) {
      const perRequest = r.requests.total > 0 ? (reviews.tokenReviews / r.requests.total).toFixed(2) : 'n/a';
      console.log(
        `${scenario.padEnd(16)} p50 ${String(r.latency.p50).padStart(4)} ms  p99 ${String(r.latency.p99).padStart(4)} ms  ` +
          `${r.requests.average.toFixed(0).padStart(6)} req/s  ${(r.throughput.average / 1e6).toFixed(1)} MB/s  ` +
          `non-2xx ${r.non2xx}  errors ${r.errors}  TokenReviews/request ${perRequest}  ` +
          `SubjectAccessReviews ${reviews.accessReviews}`,
      );
    }
  } finally {
    child.disconnect();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
