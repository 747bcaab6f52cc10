// Control-plane start-up: the first start of a process (cold: PKI, first exec of every binary, empty etcd) and then
// warm restarts. `--cold-build` also times the binary build into an empty cache (about 10 minutes on 2 cores).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD_SCRIPT, CONTROL_PLANE } from '../hack/cluster/binaries.ts';
import { startCluster } from '../hack/cluster/local-cluster.ts';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const quiet = () => {};

if (process.argv.includes('--cold-build')) {
  const cache = await mkdtemp(join(tmpdir(), 'warroom-coldbuild-'));
  const t0 = performance.now();
  const r = spawnSync('bash', [BUILD_SCRIPT, ...CONTROL_PLANE], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, WARROOM_CACHE: cache, GOCACHE: join(cache, 'gocache'), GOMODCACHE: join(cache, 'gomod') },
  });
  console.log(
    `cold build of the control plane binaries: ${((performance.now() - t0) / 1000).toFixed(0)} s (exit ${r.status})`,
  );
  spawnSync('chmod', ['-R', 'u+w', cache]);
  await rm(cache, { recursive: true, force: true });
}

const samples: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const c = await startCluster({ log: quiet });
  samples.push((performance.now() - t0) / 1000);
  console.log(
    `start ${i + 1}${i === 0 ? ' (cold process)' : ''}: ${samples.at(-1)?.toFixed(2)} s  ${JSON.stringify(c.timings)}`,
  );
  await c.stop();
}
const warm = samples.slice(1).sort((a, b) => a - b);
const median = warm[Math.floor(warm.length / 2)] ?? Number.NaN;
console.log(
  `cluster-start: cold ${samples[0]?.toFixed(2)} s, warm median ${median.toFixed(2)} s over ${warm.length} runs`,
);
