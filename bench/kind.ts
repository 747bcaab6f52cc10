// kind, offline (root on Linux): the time to a usable cluster and to a war room on it. One run:
//   cold kind:up — the node image is removed from the engine first, so it is rebuilt (binaries and the project's
//                  images come from their caches: their cold build times are the binaries' and `npm run images`'),
//   warm kind:up — everything cached, after a kind:down,
// each with `kind create cluster` on its own, then examples/minimal.yaml apply → Ready and close → namespace gone on
// the warm cluster. Prints the figures; leaves nothing running.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { realNodeUnsupportedReason } from '../hack/cluster/real-node.ts';
import { offlineEngineEnv, startOfflineEngine } from '../hack/kind/engine.ts';
import { NODE_IMAGE_REPOSITORY } from '../hack/kind/node-image.ts';
import { kindDownOffline, kindUpOffline, type OfflineKind } from '../hack/kind/offline.ts';

const unsupported = realNodeUnsupportedReason();
if (unsupported) {
  console.error(`kind: ${unsupported}`);
  process.exit(2);
}
const MINIMAL = fileURLToPath(new URL('../examples/minimal.yaml', import.meta.url));
const quiet = (m: string) => process.stderr.write(`[bench kind] ${m}\n`);
const seconds = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(1));

async function up(label: string): Promise<OfflineKind> {
  const t0 = performance.now();
  const k = await kindUpOffline({ log: quiet });
  console.log(
    `${label} kind:up total ${seconds(t0)} s; kind create cluster ${k.timings['kind create cluster (s)']} s; ` +
      `steps (s from start): ${JSON.stringify(k.timings)}`,
  );
  return k;
}

try {
  // Cold: drop the cached node image (and nothing else) so this run builds it.
  const engine = await startOfflineEngine(quiet);
  const refs = execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', NODE_IMAGE_REPOSITORY], {
    env: offlineEngineEnv(),
  })
    .toString()
    .split('\n')
    .filter(Boolean);
  if (refs.length > 0) execFileSync('docker', ['rmi', '-f', ...refs], { env: engine.env, stdio: 'ignore' });
  await up('cold (node image rebuilt)');
  let t0 = performance.now();
  await kindDownOffline(quiet);
  console.log(`kind:down ${seconds(t0)} s`);

  const k = await up('warm');
  const manifest = readFileSync(MINIMAL, 'utf8');
  const name = (parse(manifest) as { metadata: { name: string } }).metadata.name;
  t0 = performance.now();
  await k.kubectl(['apply', '-f', MINIMAL]);
  await k.kubectl(['wait', `incidentchannel/${name}`, '--for=jsonpath={.status.phase}=Ready', '--timeout=10m']);
  console.log(`apply → Ready ${seconds(t0)} s`);
  const ns = (await k.kubectl(['get', 'incidentchannel', name, '-o', 'jsonpath={.status.namespace}'])).trim();
  t0 = performance.now();
  await k.kubectl(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  await k.kubectl(['wait', `namespace/${ns}`, '--for=delete', '--timeout=5m']).catch(() => '');
  await k.kubectl(['wait', `incidentchannel/${name}`, '--for=jsonpath={.status.phase}=Closed', '--timeout=2m']);
  console.log(`close → namespace gone ${seconds(t0)} s`);
  t0 = performance.now();
  await kindDownOffline(quiet);
  console.log(`kind:down ${seconds(t0)} s`);
} catch (err) {
  console.error(`kind bench failed: ${(err as Error).message}`);
  await kindDownOffline(quiet).catch(() => undefined);
  process.exit(1);
}
