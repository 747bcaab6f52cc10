// One image, several entrypoints: `node src/main.ts operator|verify|... [--flags]` (operator is the default).
// Each loads only its own modules: the operator never loads the Matrix SDK (~45 MiB of RSS), the recorder never
// the operator's HTTP server.
import { createLogger } from './observability/logger.ts';

const ENTRYPOINTS: Record<string, (argv: string[]) => Promise<void>> = {
  operator: runOperator,
  provisioner: async () => {
    const { runProvisioner } = await import('./matrix/provisioner-main.ts');
    await runProvisioner(process.env, createLogger({ level: 'info' }).child({ component: 'provisioner' }));
  },
  recorder: async () => {
    const { runRecorder } = await import('./recorder/main.ts');
    await runRecorder(process.env);
  },
  // `docker run <image> verify /evidence/x.tar`: the same check as the `warroom verify` bin.
  verify: async (argv) => {
    const { main: runCli } = await import('./cli/main.ts');
    process.exitCode = await runCli(['verify', ...argv]);
  },
};

async function runOperator(argv: string[]): Promise<void> {
  const [{ loadConfig }, { CachingAuthenticator }, { DEFAULT_RATE_LIMIT }, { createHttpServer, startHttpServer }] =
    await Promise.all([
      import('./config.ts'),
      import('./http/auth.ts'),
      import('./http/rate-limit.ts'),
      import('./http/server.ts'),
    ]);
  const [{ TokenReviewer }, { startOperator }] = await Promise.all([import('./kube/auth.ts'), import('./operator.ts')]);
  const config = loadConfig(argv);
  const log = createLogger({ level: config.logLevel });
  log.info(
    { identity: config.identity, namespace: config.namespace, leaderElect: config.leaderElect },
    'starting warroom operator',
  );
  const operator = await startOperator({ config, log });
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
