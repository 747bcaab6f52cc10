import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, silentLogger } from '../../../src/observability/logger.ts';
import { FakeClock } from '../../../src/runtime/clock.ts';
import {
  Controller,
  type ControllerMetrics,
  type ControllerOptions,
  isPanic,
  isTerminalError,
  type ReconcileContext,
  type ReconcileResultLabel,
  TerminalError,
} from '../../../src/runtime/controller.ts';
import { ItemExponentialFailureRateLimiter } from '../../../src/runtime/rate-limiter.ts';

/** Lets resolved promises run their continuations (no time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Advances the fake clock, then lets the workers react. */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  clock.advance(ms);
  await settle();
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

class RecordingControllerMetrics implements ControllerMetrics {
  results: ReconcileResultLabel[] = [];
  errors = 0;
  terminal = 0;
  panics = 0;
  times: number[] = [];
  activeWorkers: number[] = [];
  maxConcurrent: number | undefined;
  reconcileTotal(result: ReconcileResultLabel) {
    this.results.push(result);
  }
  reconcileError() {
    this.errors++;
  }
  terminalReconcileError() {
    this.terminal++;
  }
  reconcilePanic() {
    this.panics++;
  }
  observeReconcileTime(seconds: number) {
    this.times.push(seconds);
  }
  setActiveWorkers(count: number) {
    this.activeWorkers.push(count);
  }
  setMaxConcurrentReconciles(count: number) {
    this.maxConcurrent = count;
  }
}

function newController(opts: Partial<ControllerOptions> & Pick<ControllerOptions, 'reconcile'>) {
  const clock = opts.clock instanceof FakeClock ? opts.clock : new FakeClock(0);
  const metrics = new RecordingControllerMetrics();
  const controller = new Controller({
    name: 'test',
    logger: silentLogger(),
    clock,
    metrics,
    // A roomy bucket so only the per-key backoff shapes delays in these tests.
    rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1000 }),
    ...opts,
  });
  return { controller, clock, metrics };
}

describe('Controller reconcile outcomes', () => {
  it('reconciles enqueued keys and forgets their backoff on success', async () => {
    const seen: string[] = [];
    const { controller, metrics } = newController({
      reconcile: (key) => {
        seen.push(key);
      },
    });
    controller.start();
    controller.enqueue('a');
    controller.enqueue('b');
    await settle();
    assert.deepEqual(seen, ['a', 'b']);
    assert.deepEqual(metrics.results, ['success', 'success']);
    assert.equal(controller.queue.retries('a'), 0);
    await controller.stop();
  });

  it('retries an error with growing backoff, then forgets the backoff on success', async () => {
    const attempts: number[] = [];
    const { controller, clock, metrics } = newController({
      reconcile: async () => {
        attempts.push(clock.now().getTime());
        if (attempts.length <= 3) throw new Error('apiserver unavailable');
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    assert.deepEqual(attempts, [0]);
    assert.equal(controller.queue.retries('a'), 1);

    await advance(clock, 4);
    assert.equal(attempts.length, 1, 'must not retry before the 5 ms backoff');
    await advance(clock, 1);
    await advance(clock, 10);
    await advance(clock, 20);
    assert.deepEqual(attempts, [0, 5, 15, 35]);
    assert.equal(controller.queue.retries('a'), 0, 'success resets the backoff');
    assert.deepEqual(metrics.results, ['error', 'error', 'error', 'success']);
    assert.equal(metrics.errors, 3);
    assert.equal(metrics.panics, 0);

    await advance(clock, 10_000);
    assert.equal(attempts.length, 4, 'nothing left to retry');
    await controller.stop();
  });

  it('does not retry a TerminalError, whether thrown directly or as a cause', async () => {
    const attempts: string[] = [];
    const { controller, clock, metrics } = newController({
      reconcile: (key) => {
        attempts.push(key);
        if (key === 'direct') throw new TerminalError('spec.ttl is below the minimum');
        throw new Error('reconcile failed', { cause: new TerminalError('invalid spec') });
      },
    });
    controller.start();
    controller.enqueue('direct');
    controller.enqueue('wrapped');
    await settle();
    await advance(clock, 60_000);
    assert.deepEqual(attempts, ['direct', 'wrapped']);
    assert.equal(controller.queue.delayedLen(), 0);
    assert.equal(controller.queue.retries('direct'), 0);
    assert.equal(metrics.terminal, 2);
    assert.equal(metrics.errors, 2);
    assert.deepEqual(metrics.results, ['error', 'error']);

    controller.enqueue('direct');
    await settle();
    assert.deepEqual(attempts, ['direct', 'wrapped', 'direct'], 'a new event still triggers a reconcile');
    await controller.stop();
  });

  it('honours requeueAfter with the clock, and resets backoff', async () => {
    const attempts: number[] = [];
    const { controller, clock, metrics } = newController({
      reconcile: () => {
        attempts.push(clock.now().getTime());
        if (attempts.length === 1) throw new Error('transient');
        return attempts.length === 2 ? { requeueAfter: 60_000 } : undefined;
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    await advance(clock, 5);
    assert.deepEqual(attempts, [0, 5]);
    assert.equal(controller.queue.retries('a'), 0, 'requeueAfter forgets the failure history');

    await advance(clock, 59_999);
    assert.equal(attempts.length, 2);
    await advance(clock, 1);
    assert.deepEqual(attempts, [0, 5, 60_005]);
    assert.deepEqual(metrics.results, ['error', 'requeue_after', 'success']);
    await controller.stop();
  });

  it('treats a zero or negative requeueAfter as plain success', async () => {
    let calls = 0;
    const { controller, clock, metrics } = newController({
      reconcile: () => {
        calls++;
        return { requeueAfter: calls === 1 ? 0 : -1 };
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    controller.enqueue('a');
    await settle();
    await advance(clock, 10_000);
    assert.equal(calls, 2);
    assert.deepEqual(metrics.results, ['success', 'success']);
    await controller.stop();
  });

  it('requeues with backoff on { requeue: true } without counting an error', async () => {
    const attempts: number[] = [];
    const { controller, clock, metrics } = newController({
      reconcile: () => {
        attempts.push(clock.now().getTime());
        return attempts.length < 3 ? { requeue: true } : undefined;
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    await advance(clock, 5);
    await advance(clock, 10);
    assert.deepEqual(attempts, [0, 5, 15]);
    assert.deepEqual(metrics.results, ['requeue', 'requeue', 'success']);
    assert.equal(metrics.errors, 0);
    await controller.stop();
  });

  it('measures reconcile time with the clock', async () => {
    const gate = deferred();
    const { controller, clock, metrics } = newController({
      reconcile: async () => {
        await gate.promise;
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    clock.advance(1250);
    gate.resolve();
    await settle();
    assert.deepEqual(metrics.times, [1.25]);
    await controller.stop();
  });
});

describe('Controller survives anything a reconcile throws', () => {
  it('keeps its only worker alive through non-Error throws, sync throws and crashes', async () => {
    const processed: string[] = [];
    const { controller, metrics } = newController({
      workers: 1,
      reconcile: (key) => {
        processed.push(key);
        switch (key) {
          case 'string':
            throw 'plain string';
          case 'undefined':
            throw undefined;
          case 'object':
            throw { code: 42 };
          case 'crash': {
            const obj = undefined as unknown as { spec: { ttl: string } };
            return { requeueAfter: obj.spec.ttl.length };
          }
          case 'rejected':
            return Promise.reject(new Error('async failure'));
          default:
            return undefined;
        }
      },
    });
    controller.start();
    for (const key of ['string', 'undefined', 'object', 'crash', 'rejected', 'healthy']) controller.enqueue(key);
    await settle();
    assert.deepEqual(processed, ['string', 'undefined', 'object', 'crash', 'rejected', 'healthy']);
    assert.equal(metrics.panics, 4, 'non-Error throws and the TypeError crash are panics; a plain Error is not');
    assert.equal(metrics.errors, 5);
    assert.deepEqual(metrics.results, ['error', 'error', 'error', 'error', 'error', 'success']);
    for (const key of ['string', 'undefined', 'object', 'crash', 'rejected']) {
      assert.equal(controller.queue.retries(key), 1, `${key} is retried with backoff`);
    }
    assert.deepEqual(controller.inFlight(), []);
    await controller.stop();
  });

  it('keeps working when the metrics sink itself throws', async () => {
    const processed: string[] = [];
    const clock = new FakeClock(0);
    const controller = new Controller({
      name: 'test',
      logger: silentLogger(),
      clock,
      reconcile: (key) => {
        processed.push(key);
      },
      metrics: {
        reconcileTotal: () => {
          throw new Error('metrics broke');
        },
        reconcileError: () => {},
        terminalReconcileError: () => {},
        reconcilePanic: () => {},
        observeReconcileTime: () => {},
        setActiveWorkers: () => {},
        setMaxConcurrentReconciles: () => {},
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    controller.enqueue('b');
    await settle();
    assert.deepEqual(processed.slice(0, 2), ['a', 'b']);
    assert.deepEqual(controller.queue.processingKeys(), []);
    await controller.stop();
  });

  it('classifies panics and terminal errors', () => {
    assert.equal(isPanic('x'), true);
    assert.equal(isPanic(undefined), true);
    assert.equal(isPanic(new TypeError("Cannot read properties of undefined (reading 'spec')")), true);
    assert.equal(isPanic(new ReferenceError('x is not defined')), true);
    assert.equal(isPanic(new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') })), false);
    assert.equal(isPanic(new Error('conflict')), false);
    assert.equal(isPanic(new TerminalError('bad spec')), false);

    assert.equal(isTerminalError(new TerminalError('x')), true);
    assert.equal(isTerminalError(new Error('a', { cause: new Error('b', { cause: new TerminalError('c') }) })), true);
    assert.equal(isTerminalError(new Error('x')), false);
    assert.equal(isTerminalError('x'), false);
    const cyclic = new Error('cyclic');
    (cyclic as { cause?: unknown }).cause = cyclic;
    assert.equal(isTerminalError(cyclic), false);
  });
});

describe('Controller concurrency', () => {
  it('never reconciles one key on two workers at once, and reconciles it again after a change', async () => {
    const gates: Deferred[] = [];
    let running = 0;
    let maxRunning = 0;
    const { controller } = newController({
      workers: 4,
      reconcile: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const gate = deferred();
        gates.push(gate);
        await gate.promise;
        running--;
      },
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    controller.enqueue('a');
    controller.enqueue('a');
    await settle();
    assert.equal(gates.length, 1, 'the re-added key waits even though three workers are idle');
    assert.equal(maxRunning, 1);

    gates[0]?.resolve();
    await settle();
    assert.equal(gates.length, 2, 'the change seen during the first pass triggers exactly one more pass');
    assert.equal(maxRunning, 1);
    gates[1]?.resolve();
    await settle();
    assert.equal(gates.length, 2);
    await controller.stop();
  });

  it('reconciles different keys in parallel up to the worker count', async () => {
    const gate = deferred();
    const started: string[] = [];
    const { controller, metrics } = newController({
      workers: 3,
      reconcile: async (key) => {
        started.push(key);
        await gate.promise;
      },
    });
    controller.start();
    for (const key of ['a', 'b', 'c', 'd']) controller.enqueue(key);
    await settle();
    assert.deepEqual(started, ['a', 'b', 'c']);
    assert.deepEqual(controller.inFlight().sort(), ['a', 'b', 'c']);
    assert.equal(metrics.maxConcurrent, 3);
    assert.equal(Math.max(...metrics.activeWorkers), 3);
    gate.resolve();
    await settle();
    assert.deepEqual(started, ['a', 'b', 'c', 'd']);
    assert.equal(metrics.activeWorkers.at(-1), 0);
    await controller.stop();
  });
});

describe('Controller logging', () => {
  it('gives each reconcile a fresh UUID and a logger bound to controller, name and reconcileID', async () => {
    const raw: string[] = [];
    const logger = createLogger({ level: 'debug', component: 'operator', destination: { write: (l) => raw.push(l) } });
    const contexts: ReconcileContext[] = [];
    const { controller } = newController({
      name: 'incidentchannel',
      logger,
      reconcile: (_key, ctx) => {
        contexts.push(ctx);
        ctx.log.info({ step: 'apply' }, 'applying');
        if (contexts.length === 1) throw new Error('boom');
      },
    });
    controller.start();
    controller.enqueue('case-42');
    await settle();
    controller.enqueue('case-43');
    await settle();

    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.equal(contexts.length, 2);
    assert.match(contexts[0]?.reconcileID ?? '', uuid);
    assert.match(contexts[1]?.reconcileID ?? '', uuid);
    assert.notEqual(contexts[0]?.reconcileID, contexts[1]?.reconcileID);

    for (const line of raw) assert.ok((line.match(/"name":/g) ?? []).length <= 1, `duplicate name key: ${line}`);
    const lines = raw.map((line) => JSON.parse(line) as Record<string, unknown>);
    const applying = lines.filter((l) => l.msg === 'applying');
    assert.deepEqual(
      applying.map((l) => [l.controller, l.name, l.reconcileID, l.step]),
      [
        ['incidentchannel', 'case-42', contexts[0]?.reconcileID, 'apply'],
        ['incidentchannel', 'case-43', contexts[1]?.reconcileID, 'apply'],
      ],
    );
    const failure = lines.find((l) => l.msg === 'Reconciler error');
    assert.ok(failure, 'the error is logged');
    assert.equal(failure.level, 'error');
    assert.equal(failure.name, 'case-42');
    assert.equal(failure.reconcileID, contexts[0]?.reconcileID);
    assert.equal((failure.err as { message?: string }).message, 'boom');
    await controller.stop();
  });
});

describe('Controller start and stop', () => {
  it('stops taking keys and waits for in-flight reconciles', async () => {
    const gate = deferred();
    const processed: string[] = [];
    const { controller } = newController({
      workers: 1,
      reconcile: async (key) => {
        await gate.promise;
        processed.push(key);
      },
    });
    controller.start();
    controller.enqueue('inflight');
    controller.enqueue('queued');
    await settle();

    const stopping = controller.stop();
    assert.equal(controller.stopping, true);
    controller.enqueue('after-stop');
    await settle();
    gate.resolve();
    const result = await stopping;
    assert.deepEqual(result, { drained: true, abandoned: [] });
    assert.deepEqual(processed, ['inflight'], 'queued and late keys are not reconciled after stop()');
    assert.equal(await controller.stop(), result, 'stop() is idempotent');
  });

  it('gives up on a stuck reconcile at the deadline and aborts its signal', async () => {
    let signal: AbortSignal | undefined;
    const { controller, clock } = newController({
      shutdownTimeoutMs: 5000,
      reconcile: async (_key, ctx) => {
        signal = ctx.signal;
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      },
    });
    controller.start();
    controller.enqueue('stuck');
    await settle();

    let result: Awaited<ReturnType<Controller['stop']>> | undefined;
    void controller.stop().then((r) => {
      result = r;
    });
    await advance(clock, 4999);
    assert.equal(result, undefined);
    assert.equal(signal?.aborted, false);
    await advance(clock, 1);
    assert.deepEqual(result, { drained: false, abandoned: ['stuck'] });
    assert.equal(signal?.aborted, true);
    await settle();
    assert.deepEqual(controller.inFlight(), [], 'the aborted reconcile still finishes cleanly');
  });

  it('refuses to start twice or after stop', async () => {
    const { controller } = newController({ reconcile: () => undefined });
    controller.start();
    assert.throws(() => controller.start(), /already started/);
    await controller.stop();

    const { controller: never } = newController({ reconcile: () => undefined });
    assert.deepEqual(await never.stop(), { drained: true, abandoned: [] });
    assert.throws(() => never.start(), /cannot be restarted/);
  });

  it('rejects a worker count below 1', () => {
    assert.throws(() => newController({ workers: 0, reconcile: () => undefined }), RangeError);
    assert.throws(() => newController({ workers: 1.5, reconcile: () => undefined }), RangeError);
  });
});
