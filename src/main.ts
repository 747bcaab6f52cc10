// One image, several entrypoints: `node src/main.ts operator|verify|... [--flags]` (operator is the default).
// Each entrypoint loads only its own modules: a war-room pod (the authoriser, the provisioner) does not pay for the
// operator's Kubernetes client in memory and start-up time.
import { setFlagsFromString } from 'node:v8';

const ENTRYPOINTS: Record<string, (argv: string[]) => Promise<void>> = {
  operator: runOperator,
  provisioner: async () => {
    const [{ runProvisioner }, { createLogger }] = await Promise.all([
      import('./matrix/provisioner-main.ts'),
      import('./observability/logger.ts'),
    ]);
    await runProvisioner(process.env, createLogger({ level: 'info' }).child({ component: 'provisioner' }));
  },
  recorder: async () => {
    const { runRecorder } = await import('./recorder/main.ts');
    await runRecorder(process.env);
  },
  // The war room's MatrixRTC authoriser (MSC4195): OpenID token in, LiveKit token for the SFU out.
  'rtc-authoriser': async () => {
    const { runRtcAuthoriser } = await import('./rtc/main.ts');
    await runRtcAuthoriser(process.env);
  },
  // `docker run <image> verify /evidence/x.tar`: the same check as the `warroom verify` bin.
  verify: async (argv) => {
    const { main: runCli } = await import('./cli/main.ts');
    process.exitCode = await runCli(['verify', ...argv]);
  },
};

async function runOperator(argv: string[]): Promise<void> {
  // With no heap cap V8 lets the old generation grow to up to 4× what survived the last full GC before it collects
  // again: at 500 channels ~40 MiB live became 160 MiB of old space, mostly dead objects (and the Buffers they keep
  // in malloc) from reconciles. 30 % headroom instead, like Go's GOGC=30: a full GC comes sooner (a few ms of
  // mostly-concurrent marking), the heap still grows with what is live, and there is no limit. Not allowed in
  // NODE_OPTIONS; V8 reads it whenever it sets the next GC limit, so setting it before the operator starts works
  // (bench/operator-memory measures it).
  setFlagsFromString('--heap-growing-percent=30');
  const [
    { loadConfig },
    { CachingAuthenticator },
    { DEFAULT_RATE_LIMIT },
    { createHttpServer, startHttpServer },
    { TokenReviewer },
    { createLogger },
    { optimizeForSizeWhileIdle },
    { startOperator },
  ] = await Promise.all([
    import('./config.ts'),
    import('./http/auth.ts'),
    import('./http/rate-limit.ts'),
    import('./http/server.ts'),
    import('./kube/auth.ts'),
    import('./observability/logger.ts'),
    import('./runtime/memory-mode.ts'),
    import('./operator.ts'),
  ]);
  const config = loadConfig(argv);
  const log = createLogger({ level: config.logLevel });
  log.info(
    { identity: config.identity, namespace: config.namespace, leaderElect: config.leaderElect },
    'starting warroom operator',
  );
  const operator = await startOperator({ config, log });
  const stopMemoryMode = optimizeForSizeWhileIdle(operator.idle);
  const http = createHttpServer({
    channels: operator.channels,
    registry: operator.metrics.registry,
    httpMetrics: operator.metrics.http,
    ready: operator.ready,
    auth: new CachingAuthenticator({
      reviewer: new TokenReviewer(operator.client.rest, { audiences: config.tokenReviewAudiences }),
    }),
    log: log.child({ component: 'http' }),
    allowAnonymousHealth: config.httpAnonymousHealth,
    rateLimit: { ...DEFAULT_RATE_LIMIT, burst: config.httpRateLimitBurst, perSecond: config.httpRateLimitPerSecond },
  });
  log.info({ url: await startHttpServer(http, config.httpAddress, config.httpPort) }, 'status API listening');
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down: draining reconciles, releasing the lease');
    stopMemoryMode();
    Promise.all([http.close(), operator.stop()]).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

const [first, ...rest] = process.argv.slice(2);
const named = first && !first.startsWith('-') ? first : undefined;
const entry = ENTRYPOINTS[named ?? 'operator'];
if (!entry) {
  console.error(`unknown entrypoint "${named}"; expected one of: ${Object.keys(ENTRYPOINTS).join(', ')}`);
  process.exit(2);
}
try {
  await entry(named ? rest : process.argv.slice(2));
} catch (err) {
  // Configuration and startup errors are one clear line, not a stack trace.
  console.error(`warroom: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
