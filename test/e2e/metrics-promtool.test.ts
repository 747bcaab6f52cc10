// `promtool check metrics` (the real one, Debian's prometheus package: hack/peers/debian.sh) lints the exposition the
// status API serves on /metrics: names, types, help, suffixes and units, with every metric family populated.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createHttpServer, startHttpServer } from '../../src/http/server.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => reject(new Error(`cannot run ${PROMTOOL} (hack/peers/debian.sh installs it): ${err}`)));
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

let app: FastifyInstance;
let base: string;

before(async () => {
  const metrics = createMetrics();
  const controller = metrics.controller('incidentchannel');
  const queue = metrics.workqueue('incidentchannel');
  metrics.warroom.countChannelPhasesWith(() => ({ Ready: 2, Provisioning: 1 }));
  // Populate every family so the lint sees real samples, not just headers.
  controller.reconcileTotal('success');
  controller.observeReconcileTime(0.2);
  controller.setActiveWorkers(1);
  queue.add();
  queue.setDepth(1);
  queue.observeQueueLatency(0.01);
  queue.observeWorkDuration(0.1);
  metrics.warroom.observeChannelReady(42);
  metrics.warroom.teardown('TTLExpired');
  metrics.warroom.observeEvidenceArchive(3);
  metrics.warroom.observeTtlLateness(1.5);
  metrics.reflector.restart('incidentchannel', 'gone');
  metrics.reflector.relist('incidentchannel');
  app = createHttpServer({
    channels: { list: () => [], get: () => undefined },
    registry: metrics.registry,
    httpMetrics: metrics.http,
    ready: () => true,
    auth: { authenticate: async () => undefined, authorize: async () => ({ allowed: false }) },
    log: silentLogger(),
    allowAnonymousHealth: true,
    rateLimit: false,
  });
  base = await startHttpServer(app, '127.0.0.1', 0);
});

after(async () => {
  await app?.close();
});

test('promtool check metrics accepts the /metrics exposition', async () => {
  await fetch(`${base}/healthz`);
  await fetch(`${base}/api/v1/channels`); // a 401, so http_requests_total has more than one code
  await fetch(`${base}/metrics`);
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  for (const family of ['controller_runtime_reconcile_total', 'warroom_channels', 'http_requests_total', 'process_']) {
    assert.ok(text.includes(family), `${family} is in the exposition`);
  }
  const { code, output } = await promtoolCheckMetrics(text);
  assert.equal(output.trim(), '', `promtool findings:\n${output}`);
  assert.equal(code, 0);
});

test('promtool is the real linter: it rejects what it should', async () => {
  const { code, output } = await promtoolCheckMetrics('# HELP bad_total x\n# TYPE bad_total gauge\nbad_total 1\n');
  assert.notEqual(code, 0);
  assert.match(output, /non-counter metrics should not have "_total" suffix/);
});
