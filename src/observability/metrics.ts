import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { Phase } from '../api/v1alpha1/incidentchannel.ts';
import type { ReflectorMetrics } from '../kube/reflector.ts';
import type { ControllerMetrics, ReconcileResultLabel } from '../runtime/controller.ts';
import type { UnfinishedWork, WorkqueueMetrics } from '../runtime/workqueue.ts';

/** controller-runtime's reconcile_time_seconds buckets (pkg/internal/controller/metrics). */
export const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** controller-runtime's workqueue buckets: prometheus.ExponentialBuckets(10e-9, 10, 12), i.e. 10 ns … 1000 s. */
export const WORKQUEUE_DURATION_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));

/** A war room should be usable within a minute; the tail shows image pulls and slow PVC provisioning. */
export const CHANNEL_READY_BUCKETS = [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200];
export const EVIDENCE_ARCHIVE_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** How long after expiresAt the teardown actually started; the 1 h requeue cap bounds the worst case. */
export const TTL_LATENESS_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The status API answers from memory; anything past a few ms is the auth round trip to the apiserver or GC. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * prom-client's default collectors export these gauges, each the sum of the per-type gauge of the same name without
 * the suffix; promtool rejects a gauge named *_total, so they are dropped and nothing is lost.
 */
export const DROPPED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** IncidentChannel status.phase values; each gets a series (0 when empty) so dashboards never see gaps. */
export const CHANNEL_PHASES = Phase.options;

const RECONCILE_RESULTS: readonly ReconcileResultLabel[] = ['success', 'error', 'requeue', 'requeue_after'];

/** Domain metrics. Labels are bounded enums (phase, reason, resource); never a channel, case or user name. */
export interface WarroomMetrics {
  /** Replaces all phase counts; phases missing from counts read 0. */
  setChannelPhases(counts: Partial<Record<string, number>>): void;
  /** Alternative to setChannelPhases: counts are read from the cache at scrape time. */
  countChannelPhasesWith(source: () => Partial<Record<string, number>>): void;
  observeChannelReady(seconds: number): void;
  teardown(reason: string): void;
  observeEvidenceArchive(seconds: number): void;
  observeTtlLateness(seconds: number): void;
}

/** Labels of one HTTP request. `route` is the route pattern (e.g. /api/v1/channels/:name), never the raw URL. */
export interface HttpRequestLabels {
  route: string;
  method: string;
  code: number;
}

export interface HttpMetrics {
  observeRequest(labels: HttpRequestLabels, seconds: number): void;
}

export interface Metrics {
  readonly registry: Registry;
  /** Adapter for one WorkQueue. */
  workqueue(name: string, controller?: string): WorkqueueMetrics;
  /** Adapter for one Controller; its counters start at 0 for every result so rate() works from the first scrape. */
  controller(name: string): ControllerMetrics;
  readonly reflector: ReflectorMetrics;
  readonly warroom: WarroomMetrics;
  readonly http: HttpMetrics;
}

export interface CreateMetricsOptions {
  /** process_* and nodejs_* collectors (process_open_fds matters: client-node has leaked sockets before). */
  defaultMetrics?: boolean;
}

/** A fresh registry with every metric the operator exports, and adapters for the runtime's metric interfaces. */
export function createMetrics(opts: CreateMetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }

  const reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'],
    registers,
  });
  const reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'],
    registers,
  });
  const terminalErrors = new Counter({
    name: 'controller_runtime_terminal_reconcile_errors_total',
    help: 'Total number of terminal reconciliation errors per controller',
    labelNames: ['controller'],
    registers,
  });
  const reconcilePanics = new Counter({
    name: 'controller_runtime_reconcile_panics_total',
    help: 'Total number of reconciliation panics per controller',
    labelNames: ['controller'],
    registers,
  });
  const reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'],
    buckets: RECONCILE_TIME_BUCKETS,
    registers,
  });
  const maxConcurrent = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'],
    registers,
  });
  const activeWorkers = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'],
    registers,
  });

  const queueLabels = ['name', 'controller'] as const;
  const depth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: queueLabels,
    registers,
  });
  const adds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: queueLabels,
    registers,
  });
  const queueDuration = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: queueLabels,
    buckets: WORKQUEUE_DURATION_BUCKETS,
    registers,
  });
  const workDuration = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes',
    labelNames: queueLabels,
    buckets: WORKQUEUE_DURATION_BUCKETS,
    registers,
  });
  const retries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: queueLabels,
    registers,
  });

  type QueueLabels = { name: string; controller: string };
  const unfinishedProbes = new Map<string, { labels: QueueLabels; probe: () => UnfinishedWork }>();
  const readProbe = (probe: () => UnfinishedWork): UnfinishedWork | undefined => {
    try {
      return probe();
    } catch {
      return undefined; // a broken probe must not fail the whole scrape
    }
  };
  new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help:
      "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
      'Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at ' +
      'which this increases.',
    labelNames: queueLabels,
    registers,
    collect() {
      for (const { labels, probe } of unfinishedProbes.values()) {
        const work = readProbe(probe);
        if (work) this.set(labels, work.unfinishedWorkSeconds);
      }
    },
  });
  new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running.',
    labelNames: queueLabels,
    registers,
    collect() {
      for (const { labels, probe } of unfinishedProbes.values()) {
        const work = readProbe(probe);
        if (work) this.set(labels, work.longestRunningProcessorSeconds);
      }
    },
  });

  let phaseSource: (() => Partial<Record<string, number>>) | undefined;
  const channels = new Gauge({
    name: 'warroom_channels',
    help: 'IncidentChannels by status phase',
    labelNames: ['phase'],
    registers,
    collect() {
      if (phaseSource) writePhases(this, phaseSource());
    },
  });
  const writePhases = (gauge: Gauge<'phase'>, counts: Partial<Record<string, number>>) => {
    gauge.reset();
    for (const phase of CHANNEL_PHASES) gauge.set({ phase }, 0);
    for (const [phase, count] of Object.entries(counts)) if (count !== undefined) gauge.set({ phase }, count);
  };
  writePhases(channels, {});
  const channelReady = new Histogram({
    name: 'warroom_channel_ready_seconds',
    help: 'Time from IncidentChannel creation to its first Ready condition',
    buckets: CHANNEL_READY_BUCKETS,
    registers,
  });
  const teardowns = new Counter({
    name: 'warroom_teardowns_total',
    help: 'War rooms torn down, by reason (e.g. CaseClosed, TTLExpired, Deleted)',
    labelNames: ['reason'],
    registers,
  });
  const evidenceArchive = new Histogram({
    name: 'warroom_evidence_archive_seconds',
    help: 'Time to export and verify a war room transcript archive',
    buckets: EVIDENCE_ARCHIVE_BUCKETS,
    registers,
  });
  const ttlLateness = new Histogram({
    name: 'warroom_ttl_lateness_seconds',
    help: 'Delay between a war room expiry time and the start of its teardown',
    buckets: TTL_LATENESS_BUCKETS,
    registers,
  });
  const reflectorRestarts = new Counter({
    name: 'warroom_reflector_restarts_total',
    help: 'List-watch reflector restarts (watch errors, 410 Gone) by resource',
    labelNames: ['resource'],
    registers,
  });
  const reflectorRelists = new Counter({
    name: 'warroom_reflector_relists_total',
    help: 'Full relists performed by the list-watch reflector, by resource',
    labelNames: ['resource'],
    registers,
  });

  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests served by the status API, by route pattern, method and status code',
    labelNames: ['route', 'method', 'code'],
    registers,
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to serve an HTTP request of the status API, by route pattern and method',
    labelNames: ['route', 'method'],
    buckets: HTTP_DURATION_BUCKETS,
    registers,
  });

  return {
    registry,

    workqueue(name, controller = name) {
      const labels = { name, controller };
      depth.set(labels, 0);
      adds.inc(labels, 0);
      retries.inc(labels, 0);
      return {
        setDepth: (n) => depth.set(labels, n),
        add: () => adds.inc(labels),
        retry: () => retries.inc(labels),
        observeQueueLatency: (seconds) => queueDuration.observe(labels, seconds),
        observeWorkDuration: (seconds) => workDuration.observe(labels, seconds),
        trackUnfinishedWork: (probe) => {
          // Keyed by labels: a queue recreated after a leadership change replaces its predecessor's probe.
          unfinishedProbes.set(`${name}\u0000${controller}`, { labels, probe });
        },
      };
    },

    controller(name) {
      const labels = { controller: name };
      for (const result of RECONCILE_RESULTS) reconcileTotal.inc({ controller: name, result }, 0);
      reconcileErrors.inc(labels, 0);
      terminalErrors.inc(labels, 0);
      reconcilePanics.inc(labels, 0);
      return {
        reconcileTotal: (result) => reconcileTotal.inc({ controller: name, result }),
        reconcileError: () => reconcileErrors.inc(labels),
        terminalReconcileError: () => terminalErrors.inc(labels),
        reconcilePanic: () => reconcilePanics.inc(labels),
        observeReconcileTime: (seconds) => reconcileTime.observe(labels, seconds),
        setActiveWorkers: (count) => activeWorkers.set(labels, count),
        setMaxConcurrentReconciles: (count) => maxConcurrent.set(labels, count),
      };
    },

    reflector: {
      // The reason ('gone' | 'error') is logged by the reflector; the metric keeps to one label, per resource.
      restart: (resource, _reason) => reflectorRestarts.inc({ resource }),
      relist: (resource) => reflectorRelists.inc({ resource }),
    },

    warroom: {
      setChannelPhases: (counts) => writePhases(channels, counts),
      countChannelPhasesWith: (source) => {
        phaseSource = source;
      },
      observeChannelReady: (seconds) => channelReady.observe(seconds),
      teardown: (reason) => teardowns.inc({ reason }),
      observeEvidenceArchive: (seconds) => evidenceArchive.observe(seconds),
      observeTtlLateness: (seconds) => ttlLateness.observe(Math.max(0, seconds)),
    },

    http: {
      observeRequest: ({ route, method, code }, seconds) => {
        httpRequests.inc({ route, method, code: String(code) });
        httpDuration.observe({ route, method }, seconds);
      },
    },
  };
}
