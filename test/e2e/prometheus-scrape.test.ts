// A real Prometheus (Debian's prometheus 2.x: hack/peers/debian.sh) scrapes the status API on loopback every second,
// with a bearer token as a ServiceMonitor would, and its query API must then return the operator's series. Every
// Grafana dashboard query is also run against it, so a PromQL syntax error in the dashboard fails here.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { AccessAttributes, Authenticator, UserInfo } from '../../src/http/auth.ts';
import { createHttpServer, startHttpServer } from '../../src/http/server.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { eventually } from '../support/kubectl.ts';

const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';
const SCRAPE_TOKEN = 'prometheus-scrape-token-e2e';
const JOB = 'warroom-e2e';

/** Grants `get /metrics` to the one token Prometheus is configured with: what RBAC would do for its ServiceAccount. */
const scrapeOnly: Authenticator = {
  authenticate: async (token): Promise<UserInfo | undefined> =>
    token === SCRAPE_TOKEN ? { username: 'system:serviceaccount:monitoring:prometheus' } : undefined,
  authorize: async (_user, a: AccessAttributes) => ({ allowed: a.kind === 'nonResource' && a.path === '/metrics' }),
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

let app: FastifyInstance;
let prometheus: ChildProcess | undefined;
let prometheusLog = '';
let dir: string;
let promUrl: string;

before(async () => {
  const metrics = createMetrics();
  metrics.controller('incidentchannel');
  metrics.workqueue('incidentchannel');
  metrics.warroom.countChannelPhasesWith(() => ({ Ready: 2, Provisioning: 1 }));
  app = createHttpServer({
    channels: { list: () => [], get: () => undefined },
    registry: metrics.registry,
    httpMetrics: metrics.http,
    ready: () => true,
    auth: scrapeOnly,
    log: silentLogger(),
    allowAnonymousHealth: false,
    rateLimit: false,
  });
  const appUrl = new URL(await startHttpServer(app, '127.0.0.1', 0));

  dir = await mkdtemp(join(tmpdir(), 'warroom-prom-'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 900ms',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    `  - job_name: ${JOB}`,
    '    metrics_path: /metrics',
    '    authorization:',
    '      type: Bearer',
    `      credentials: ${SCRAPE_TOKEN}`,
    '    static_configs:',
    `      - targets: ['${appUrl.host}']`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout?.on('data', (d: Buffer) => (prometheusLog += d.toString()));
  prometheus.stderr?.on('data', (d: Buffer) => (prometheusLog += d.toString()));
  prometheus.on('error', (err) => {
    prometheusLog += `cannot run ${PROMETHEUS} (hack/peers/debian.sh installs it): ${err}\n`;
  });
  await eventually(
    'prometheus is ready',
    async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${prometheusLog}`);
      return (await fetch(`${promUrl}/-/ready`)).ok;
    },
    30_000,
  );
});

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await app?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface QueryResponse {
  status: string;
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function query(q: string): Promise<QueryResponse> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  return (await res.json()) as QueryResponse;
}

async function scrapeError(): Promise<string> {
  const res = await fetch(`${promUrl}/api/v1/targets`);
  const body = (await res.json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
  return JSON.stringify(body.data.activeTargets.map((t) => ({ health: t.health, lastError: t.lastError })));
}

test('Prometheus scrapes /metrics with a bearer token and stores the operator series', async () => {
  const series = async (q: string) => {
    try {
      return await eventually(
        q,
        async () => {
          const r = await query(q);
          return r.status === 'success' && r.data.result.length > 0 ? r.data.result : undefined;
        },
        30_000,
      );
    } catch (err) {
      throw new Error(`${String(err)}; targets: ${await scrapeError()}; prometheus log: ${prometheusLog}`);
    }
  };
  const up = await series(`up{job="${JOB}"} == 1`);
  assert.equal(up.length, 1);

  const reconciles = await series(`controller_runtime_reconcile_total{job="${JOB}"}`);
  assert.deepEqual(reconciles.map((s) => s.metric.result).sort(), ['error', 'requeue', 'requeue_after', 'success']);
  assert.ok(reconciles.every((s) => s.metric.controller === 'incidentchannel'));

  const phases = await series(`warroom_channels{job="${JOB}"}`);
  const byPhase = Object.fromEntries(phases.map((s) => [s.metric.phase, Number(s.value[1])]));
  assert.equal(byPhase.Ready, 2);
  assert.equal(byPhase.Provisioning, 1);
  assert.equal(byPhase.Failed, 0, 'empty phases are 0, not absent');

  const scrapes = await series(`http_requests_total{job="${JOB}",route="/metrics",code="200"}`);
  assert.equal(scrapes[0]?.metric.method, 'GET');
});

test('every Grafana dashboard query is valid PromQL for this Prometheus', async () => {
  const dashboard = JSON.parse(
    await readFile(new URL('../../deploy/grafana/warroom-dashboard.json', import.meta.url), 'utf8'),
  ) as { panels: { title: string; targets?: { expr: string }[] }[] };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
  assert.ok(exprs.length >= 5);
  for (const { title, expr } of exprs) {
    const concrete = expr.replaceAll('$job', JOB).replaceAll('$__rate_interval', '1m');
    const r = await query(concrete);
    assert.equal(r.status, 'success', `${title}: ${concrete}: ${r.error ?? ''}`);
  }
  const ready = await query(
    dashboard.panels.find((p) => p.title === 'Channels by phase')?.targets?.[0]?.expr.replaceAll('$job', JOB) ??
      'missing',
  );
  assert.equal(valuesByPhase(ready).Ready, 2, 'the phase panel shows the cache count');
});

function valuesByPhase(res: QueryResponse): Record<string, number> {
  return Object.fromEntries(res.data.result.map((s) => [s.metric.phase ?? '', Number(s.value[1])]));
}
