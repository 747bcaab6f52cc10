// npm run bench -- http-api: the status API's GET /api/v1/channels with 500 IncidentChannels, against the real local
// control plane: the channels live in the apiserver (with a status such as the operator writes), the server reads
// them through the operator's reflector, and authenticates and authorises a real ServiceAccount token with
// TokenReview/SubjectAccessReview (cached, as in production). 10 connections (autocannon), BENCH_SECONDS per scenario
// after a 1 s warm-up:
//   plain            a client that takes JSON as it is;
//   gzip             Accept-Encoding: gzip (browsers, curl --compressed, most HTTP libraries);
//   If-None-Match    a poller that sends back the last ETag it got: 304 while nothing changed;
//   limit=50         the first page of 50 (the apiserver's way to page: limit/continue).
// Then the user's alternative, in the same run: `kubectl get ic -o json` against the apiserver, BENCH_KUBECTL_RUNS
// times one after the other, and the ratio. The server runs in a child process so the load generator does not share
// its event loop.
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon, { type Options, type Result } from 'autocannon';
import { startCluster } from '../hack/cluster/local-cluster.ts';
import { CachingAuthenticator } from '../src/http/auth.ts';
import { createHttpServer, startHttpServer } from '../src/http/server.ts';
import { TokenReviewer } from '../src/kube/auth.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import type { KubeObject } from '../src/kube/objects.ts';
import { Reflector } from '../src/kube/reflector.ts';
import { KubeRest } from '../src/kube/rest.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { createMetrics } from '../src/observability/metrics.ts';
import { describeCluster } from '../test/cluster/index.ts';
import { kubectl } from '../test/support/kubectl.ts';
import { installCrd } from '../test/support/operator.ts';

const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const KUBECTL_RUNS = Number(process.env.BENCH_KUBECTL_RUNS ?? 20);
const run = promisify(execFile);

/** The child: the status API as the operator serves it, from a reflector, with delegated authn/authz. */
async function serve(kubeconfig: string): Promise<void> {
  const rest = new KubeRest(loadKubeConfig(kubeconfig));
  const channels = new Reflector<KubeObject>({
    rest,
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    handlers: {},
  });
  channels.start();
  await channels.waitForSync();
  const metrics = createMetrics();
  const app = createHttpServer({
    channels,
    registry: metrics.registry,
    httpMetrics: metrics.http,
    ready: () => channels.hasSynced,
    auth: new CachingAuthenticator({ reviewer: new TokenReviewer(rest) }),
    log: silentLogger(),
    allowAnonymousHealth: true,
    rateLimit: false,
  });
  const url = await startHttpServer(app, '127.0.0.1', 0);
  process.on('disconnect', () => void Promise.all([app.close(), channels.stop()]).then(() => process.exit(0)));
  process.send?.({ url, cached: channels.list().length });
}

function channel(i: number) {
  const name = `inc-${String(i).padStart(4, '0')}`;
  return {
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name },
    spec: {
      caseId: name,
      severity: 'high',
      ttl: '72h',
      participants: Array.from({ length: 8 }, (_, p) => ({ handle: `p${p}`, role: p === 0 ? 'lead' : 'responder' })),
    },
  };
}

function status(i: number) {
  const name = `inc-${String(i).padStart(4, '0')}`;
  const phases = ['Ready', 'Ready', 'Ready', 'Provisioning', 'Expiring'];
  const now = new Date().toISOString();
  return {
    status: {
      phase: phases[i % phases.length],
      namespace: `wr-${name}-a1b2c3`,
      expiresAt: new Date(Date.now() + 72 * 3_600_000).toISOString(),
      participantCount: 8,
      observedGeneration: 1,
      conditions: ['Ready', 'Reconciling', 'Stalled', 'NamespaceReady'].map((type) => ({
        type,
        status: type === 'Ready' || type === 'NamespaceReady' ? 'True' : 'False',
        reason: 'Provisioned',
        message: 'desired state applied',
        lastTransitionTime: now,
        observedGeneration: 1,
      })),
      endpoints: { element: `https://chat.${name}.example.org`, homeserver: `https://matrix.${name}.example.org` },
      recording: { events: 1000 + i, headHash: 'a'.repeat(64) },
    },
  };
}

function ask<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

async function main(): Promise<void> {
  const local = await startCluster({ log: () => {} });
  let child: ChildProcess | undefined;
  try {
    const cluster = describeCluster(local);
    const k = kubectl(cluster);
    await installCrd(cluster);
    for (let i = 0; i < CHANNELS; i += 100) {
      const items = Array.from({ length: Math.min(100, CHANNELS - i) }, (_, j) => channel(i + j));
      await k.apply({ apiVersion: 'v1', kind: 'List', items });
    }
    // Statuses as the operator writes them (the status subresource), 10 kubectl processes at a time.
    for (let i = 0; i < CHANNELS; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, CHANNELS - i) }, (_, j) =>
          k.exec([
            'patch',
            'incidentchannel',
            channel(i + j).metadata.name,
            '--subresource=status',
            '--type=merge',
            '-p',
            JSON.stringify(status(i + j)),
          ]),
        ),
      );
    }
    // The reader: a ServiceAccount allowed to get/list incidentchannels, nothing more; the same token for both.
    await k.exec(['create', 'namespace', 'bench']).catch(() => undefined);
    await k.exec(['create', 'serviceaccount', 'status-reader', '-n', 'bench']);
    await k.exec([
      'create',
      'clusterrole',
      'status-reader',
      '--verb=get,list',
      '--resource=incidentchannels.warroom.dev',
    ]);
    await k.exec([
      'create',
      'clusterrolebinding',
      'status-reader',
      '--clusterrole=status-reader',
      '--serviceaccount=bench:status-reader',
    ]);
    const token = (await k.exec(['create', 'token', 'status-reader', '-n', 'bench', '--duration=1h'])).trim();

    child = fork(new URL(import.meta.url), ['--serve', cluster.kubeconfig], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const { url, cached } = await ask<{ url: string; cached: number }>(child);
    const path = '/api/v1/channels';
    const auth = { authorization: `Bearer ${token}` };
    const first = await fetch(url + path, { headers: auth });
    const bytes = (await first.arrayBuffer()).byteLength;
    const gzBytes = Number(
      (await fetch(url + path, { headers: { ...auth, 'accept-encoding': 'gzip' } })).headers.get('content-length'),
    );
    let latestEtag: string | undefined;
    const scenarios: [string, Options][] = [
      ['plain', { url: url + path, headers: auth }],
      ['gzip', { url: url + path, headers: { ...auth, 'accept-encoding': 'gzip' } }],
      // Pollers that send back the latest ETag seen (autocannon clears a connection's own context after each
      // request, so the tag is shared); it changes each second (the countdowns): 304 within a second, 200 after.
      [
        'If-None-Match',
        {
          url: url + path,
          headers: auth,
          requests: [
            {
              setupRequest: (req) => ({
                ...req,
                headers: { ...auth, ...(latestEtag ? { 'if-none-match': latestEtag } : {}) },
              }),
              onResponse: (_status, _body, _context, headers) => {
                if (headers.etag) latestEtag = headers.etag;
              },
            },
          ],
        },
      ],
      ['limit=50', { url: `${url + path}?limit=50`, headers: auth }],
    ];
    const rows: { scenario: string; r: Result }[] = [];
    for (const [scenario, opts] of scenarios) {
      await autocannon({ ...opts, connections: CONNECTIONS, duration: 1 }); // JIT and connection warm-up
      rows.push({ scenario, r: await autocannon({ ...opts, connections: CONNECTIONS, duration: SECONDS }) });
    }

    // The user's alternative: kubectl against the apiserver, with the same token.
    const kubectlMs: number[] = [];
    const caFile = join(local.dir, 'bench-ca.crt');
    await writeFile(caFile, cluster.caPem);
    const kubectlArgs = ['--server', cluster.server, '--token', token, '--certificate-authority', caFile];
    for (let i = 0; i < KUBECTL_RUNS; i++) {
      const t0 = performance.now();
      await run(cluster.binaries.kubectl, [...kubectlArgs, 'get', 'incidentchannels', '-o', 'json'], {
        maxBuffer: 256 << 20,
      });
      kubectlMs.push(performance.now() - t0);
    }

    console.log(
      `http-api: GET ${path}, ${cached} channels from the reflector, ${CONNECTIONS} connections, ${SECONDS} s per ` +
        `scenario, loopback; real TokenReview/SubjectAccessReview (cached); body ${(bytes / 1e3).toFixed(0)} KB ` +
        `(${(gzBytes / 1e3).toFixed(1)} KB gzip)`,
    );
    for (const { scenario, r } of rows) {
      console.log(
        `${scenario.padEnd(14)} p50 ${String(r.latency.p50).padStart(4)} ms  p99 ${String(r.latency.p99).padStart(4)} ms  ` +
          `${r.requests.average.toFixed(0).padStart(6)} req/s  ${(r.throughput.average / 1e6).toFixed(1)} MB/s  ` +
          `200 ${r.statusCodeStats['200']?.count ?? 0}  304 ${r.statusCodeStats['304']?.count ?? 0}  other non-2xx ${r.non2xx - (r.statusCodeStats['304']?.count ?? 0)}  errors ${r.errors}`,
      );
    }
    const k50 = pct(kubectlMs, 50);
    const k99 = pct(kubectlMs, 99);
    const plain = rows[0]?.r;
    console.log(
      `kubectl get ic -o json (${KUBECTL_RUNS} runs one after the other, the same token): ` +
        `p50 ${k50.toFixed(0)} ms, p99 ${k99.toFixed(0)} ms`,
    );
    if (plain) {
      console.log(
        `ratio kubectl / status API (plain): p50 ${(k50 / Math.max(plain.latency.p50, 1)).toFixed(0)}x, ` +
          `p99 ${(k99 / Math.max(plain.latency.p99, 1)).toFixed(0)}x (status API latencies are under ${CONNECTIONS} concurrent connections)`,
      );
    }
  } finally {
    child?.disconnect();
    await local.stop();
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) await serve(process.argv[serveAt + 1] ?? '');
else await main();
