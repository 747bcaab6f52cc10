import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/observability/logger.ts';
import {
  createMetrics,
  RECONCILE_TIME_BUCKETS,
  WORKQUEUE_DURATION_BUCKETS,
} from '../../../src/observability/metrics.ts';
import { FakeClock } from '../../../src/runtime/clock.ts';
import { Controller } from '../../../src/runtime/controller.ts';
import { ItemExponentialFailureRateLimiter } from '../../../src/runtime/rate-limiter.ts';
import { WorkQueue } from '../../../src/runtime/workqueue.ts';

/** One sample's value from Prometheus text output, e.g. sample(text, 'workqueue_depth', { name: 'x' }). */
function sample(text: string, metric: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== metric) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

const EXPECTED_NAMES = [
  'controller_runtime_reconcile_total',
  'controller_runtime_reconcile_errors_total',
  'controller_runtime_terminal_reconcile_errors_total',
  'controller_runtime_reconcile_panics_total',
  'controller_runtime_reconcile_time_seconds',
  'controller_runtime_max_concurrent_reconciles',
  'controller_runtime_active_workers',
  'workqueue_depth',
  'workqueue_adds_total',
  'workqueue_queue_duration_seconds',
  'workqueue_work_duration_seconds',
  'workqueue_unfinished_work_seconds',
  'workqueue_longest_running_processor_seconds',
  'workqueue_retries_total',
  'warroom_channels',
  'warroom_channel_ready_seconds',
  'warroom_teardowns_total',
  'warroom_evidence_archive_seconds',
  'warroom_ttl_lateness_seconds',
  'warroom_reflector_restarts_total',
  'warroom_reflector_relists_total',
];

describe('createMetrics', () => {
  it('registers every controller-runtime, workqueue and warroom metric under its exact name', async () => {
    const metrics = createMetrics();
    const text = await metrics.registry.metrics();
    for (const name of EXPECTED_NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    assert.match(text, /^# TYPE controller_runtime_reconcile_time_seconds histogram$/m);
    assert.match(text, /^# TYPE controller_runtime_reconcile_total counter$/m);
    assert.match(text, /^# TYPE workqueue_depth gauge$/m);
    assert.match(text, /^# TYPE warroom_channels gauge$/m);
  });

  it('includes the default process and Node.js collectors, which can be turned off', async () => {
    const text = await createMetrics().registry.metrics();
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    const bare = await createMetrics({ defaultMetrics: false }).registry.metrics();
    assert.doesNotMatch(bare, /process_cpu_user_seconds_total/);
  });

  it('creates independent registries (no "already registered" clash)', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.warroom.teardown('TTLExpired');
    assert.equal(sample(await a.registry.metrics(), 'warroom_teardowns_total', { reason: 'TTLExpired' }), 1);
    assert.equal(sample(await b.registry.metrics(), 'warroom_teardowns_total', { reason: 'TTLExpired' }), undefined);
  });

  it('uses controller-runtime histogram buckets', async () => {
    assert.equal(RECONCILE_TIME_BUCKETS[0], 0.005);
    assert.equal(RECONCILE_TIME_BUCKETS.at(-1), 60);
    assert.deepEqual(WORKQUEUE_DURATION_BUCKETS, [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000]);
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.controller('c').observeReconcileTime(0.2);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'controller_runtime_reconcile_time_seconds_bucket', { controller: 'c', le: '0.005' }), 0);
    assert.equal(sample(text, 'controller_runtime_reconcile_time_seconds_bucket', { controller: 'c', le: '0.2' }), 1);
    assert.equal(sample(text, 'controller_runtime_reconcile_time_seconds_bucket', { controller: 'c', le: '60' }), 1);
  });

  it('only uses bounded labels: never a channel, case, user or key', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.controller('incidentchannel');
    metrics.workqueue('incidentchannel');
    metrics.reflector.restart('incidentchannels', 'error');
    metrics.warroom.teardown('CaseClosed');
    const allowed = new Set(['controller', 'result', 'name', 'phase', 'reason', 'resource', 'le']);
    for (const metric of await metrics.registry.getMetricsAsJSON()) {
      for (const value of metric.values) {
        for (const label of Object.keys(value.labels)) {
          assert.ok(allowed.has(label), `${metric.name} has label ${label}`);
        }
      }
    }
  });
});

describe('controller adapter', () => {
  it('starts every result at 0 and counts what the controller reports', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const c = metrics.controller('incidentchannel');
    let text = await metrics.registry.metrics();
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      assert.equal(sample(text, 'controller_runtime_reconcile_total', { controller: 'incidentchannel', result }), 0);
    }
    c.reconcileTotal('success');
    c.reconcileTotal('success');
    c.reconcileTotal('requeue_after');
    c.reconcileError();
    c.terminalReconcileError();
    c.reconcilePanic();
    c.setActiveWorkers(2);
    c.setMaxConcurrentReconciles(4);
    text = await metrics.registry.metrics();
    const labels = { controller: 'incidentchannel' };
    assert.equal(sample(text, 'controller_runtime_reconcile_total', { ...labels, result: 'success' }), 2);
    assert.equal(sample(text, 'controller_runtime_reconcile_total', { ...labels, result: 'requeue_after' }), 1);
    assert.equal(sample(text, 'controller_runtime_reconcile_errors_total', labels), 1);
    assert.equal(sample(text, 'controller_runtime_terminal_reconcile_errors_total', labels), 1);
    assert.equal(sample(text, 'controller_runtime_reconcile_panics_total', labels), 1);
    assert.equal(sample(text, 'controller_runtime_active_workers', labels), 2);
    assert.equal(sample(text, 'controller_runtime_max_concurrent_reconciles', labels), 4);
  });
});

describe('workqueue adapter', () => {
  it('reports a real WorkQueue: depth, adds, latency, work duration, retries and unfinished work', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const clock = new FakeClock(0);
    const queue = new WorkQueue({ name: 'incidentchannel', clock, metrics: metrics.workqueue('incidentchannel') });
    const labels = { name: 'incidentchannel', controller: 'incidentchannel' };

    queue.add('a');
    queue.add('a');
    queue.add('b');
    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'workqueue_depth', labels), 2);
    assert.equal(sample(text, 'workqueue_adds_total', labels), 2);

    clock.advance(2000);
    await queue.get();
    clock.advance(3000);
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'workqueue_depth', labels), 1);
    assert.equal(sample(text, 'workqueue_queue_duration_seconds_count', labels), 1);
    assert.equal(sample(text, 'workqueue_queue_duration_seconds_sum', labels), 2);
    assert.equal(sample(text, 'workqueue_unfinished_work_seconds', labels), 3, 'read from the queue at scrape time');
    assert.equal(sample(text, 'workqueue_longest_running_processor_seconds', labels), 3);

    queue.done('a');
    queue.addRateLimited('a');
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'workqueue_work_duration_seconds_count', labels), 1);
    assert.equal(sample(text, 'workqueue_work_duration_seconds_sum', labels), 3);
    assert.equal(sample(text, 'workqueue_retries_total', labels), 1);
    assert.equal(sample(text, 'workqueue_unfinished_work_seconds', labels), 0);
  });

  it('labels a queue with its controller when they differ', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.workqueue('channels', 'incidentchannel').add();
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'workqueue_adds_total', { name: 'channels', controller: 'incidentchannel' }), 1);
  });

  it('keeps the scrape working when a probe throws', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.workqueue('broken').trackUnfinishedWork(() => {
      throw new Error('probe broke');
    });
    assert.match(await metrics.registry.metrics(), /workqueue_depth\{name="broken",controller="broken"\} 0/);
  });
});

describe('Controller wired to metrics', () => {
  it('counts an error, its retry and the final success end to end', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const clock = new FakeClock(0);
    let calls = 0;
    const controller = new Controller({
      name: 'incidentchannel',
      logger: silentLogger(),
      clock,
      workers: 2,
      rateLimiter: new ItemExponentialFailureRateLimiter(),
      metrics: metrics.controller('incidentchannel'),
      workqueueMetrics: metrics.workqueue('incidentchannel'),
      reconcile: () => {
        calls++;
        if (calls === 1) throw new Error('transient');
        return { requeueAfter: 3_600_000 };
      },
    });
    controller.start();
    controller.enqueue('case-1');
    await settle();
    clock.advance(5);
    await settle();
    assert.equal(calls, 2);

    const text = await metrics.registry.metrics();
    const c = { controller: 'incidentchannel' };
    const q = { name: 'incidentchannel', controller: 'incidentchannel' };
    assert.equal(sample(text, 'controller_runtime_reconcile_total', { ...c, result: 'error' }), 1);
    assert.equal(sample(text, 'controller_runtime_reconcile_total', { ...c, result: 'requeue_after' }), 1);
    assert.equal(sample(text, 'controller_runtime_reconcile_total', { ...c, result: 'success' }), 0);
    assert.equal(sample(text, 'controller_runtime_reconcile_errors_total', c), 1);
    assert.equal(sample(text, 'controller_runtime_reconcile_time_seconds_count', c), 2);
    assert.equal(sample(text, 'controller_runtime_max_concurrent_reconciles', c), 2);
    assert.equal(sample(text, 'controller_runtime_active_workers', c), 0);
    assert.equal(sample(text, 'workqueue_adds_total', q), 2);
    // The error's rate-limited add and the requeueAfter both go through addAfter, as in client-go.
    assert.equal(sample(text, 'workqueue_retries_total', q), 2);
    await controller.stop();
  });
});

describe('warroom domain metrics', () => {
  it('reports channels per phase, zero-filling phases that are empty', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.warroom.setChannelPhases({ Ready: 3, Provisioning: 1 });
    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'warroom_channels', { phase: 'Ready' }), 3);
    assert.equal(sample(text, 'warroom_channels', { phase: 'Provisioning' }), 1);
    assert.equal(sample(text, 'warroom_channels', { phase: 'Expired' }), 0);

    metrics.warroom.setChannelPhases({ Expired: 1 });
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'warroom_channels', { phase: 'Ready' }), 0, 'a phase that emptied reads 0');
    assert.equal(sample(text, 'warroom_channels', { phase: 'Expired' }), 1);
  });

  it('can read channel phases from a source at scrape time', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let ready = 1;
    metrics.warroom.countChannelPhasesWith(() => ({ Ready: ready }));
    assert.equal(sample(await metrics.registry.metrics(), 'warroom_channels', { phase: 'Ready' }), 1);
    ready = 5;
    assert.equal(sample(await metrics.registry.metrics(), 'warroom_channels', { phase: 'Ready' }), 5);
  });

  it('records readiness, teardowns, archive time, TTL lateness and reflector activity', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.warroom.observeChannelReady(42);
    metrics.warroom.teardown('CaseClosed');
    metrics.warroom.teardown('CaseClosed');
    metrics.warroom.teardown('TTLExpired');
    metrics.warroom.observeEvidenceArchive(3.5);
    metrics.warroom.observeTtlLateness(1.2);
    metrics.warroom.observeTtlLateness(-0.3);
    metrics.reflector.restart('incidentchannels', 'gone');
    metrics.reflector.restart('incidentchannels', 'error');
    metrics.reflector.relist('incidentchannels');
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'warroom_channel_ready_seconds_sum'), 42);
    assert.equal(sample(text, 'warroom_channel_ready_seconds_bucket', { le: '45' }), 1);
    assert.equal(sample(text, 'warroom_channel_ready_seconds_bucket', { le: '30' }), 0);
    assert.equal(sample(text, 'warroom_teardowns_total', { reason: 'CaseClosed' }), 2);
    assert.equal(sample(text, 'warroom_teardowns_total', { reason: 'TTLExpired' }), 1);
    assert.equal(sample(text, 'warroom_evidence_archive_seconds_sum'), 3.5);
    assert.equal(sample(text, 'warroom_ttl_lateness_seconds_count'), 2);
    assert.equal(sample(text, 'warroom_ttl_lateness_seconds_sum'), 1.2, 'an early teardown counts as 0 lateness');
    assert.equal(sample(text, 'warroom_reflector_restarts_total', { resource: 'incidentchannels' }), 2);
    assert.equal(sample(text, 'warroom_reflector_relists_total', { resource: 'incidentchannels' }), 1);
  });
});
