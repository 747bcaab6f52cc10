// npm run kind:up / kind:down. The mode is chosen here and printed:
//   online  — a Docker engine answers: hack/kind/up.sh / down.sh (kindest/node, kindnet, upstream manifests by URL).
//   offline — no engine, Linux, root: hack/kind/offline.ts (Debian dockerd started by hand, a node image built here,
//             the project's own images, nothing fetched but from package registries).
// kind:up applies examples/minimal.yaml (EXAMPLE=<file>, e.g. examples/kind.yaml for calls from the laptop, or
// EXAMPLE=none) and waits until it is Ready.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ensureBinaries } from '../cluster/binaries.ts';
import { chooseMode, runningEnginePid } from './engine.ts';
import { CLUSTER_NAME, kindDownOffline, kindUpOffline, kubeconfigPath } from './offline.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '../..');
const say = (m: string) => process.stderr.write(`[kind] ${m}\n`);

function online(script: 'up.sh' | 'down.sh'): number {
  return (
    spawnSync('bash', [join(HERE, script)], { stdio: 'inherit', env: { ...process.env, EXAMPLE: example() } }).status ??
    1
  );
}

function example(): string {
  return process.env.EXAMPLE ?? 'examples/minimal.yaml';
}

async function up(): Promise<number> {
  const choice = chooseMode();
  if (!choice.mode) {
    say(`error: ${choice.why}`);
    return 1;
  }
  say(`mode: ${choice.mode} (${choice.why})`);
  if (choice.mode === 'online') return online('up.sh');
  const started = performance.now();
  const k = await kindUpOffline({ log: say });
  const file = example();
  if (file !== 'none') {
    const manifest = readFileSync(join(ROOT, file), 'utf8');
    const name = (parse(manifest) as { metadata: { name: string } }).metadata.name;
    say(`applying ${file} (IncidentChannel ${name}) and waiting for phase Ready`);
    await k.kubectl(['apply', '-f', '-'], manifest);
    try {
      await k.kubectl(['wait', `incidentchannel/${name}`, '--for=jsonpath={.status.phase}=Ready', '--timeout=10m']);
    } catch (err) {
      say(await k.kubectl(['get', 'incidentchannel', name, '-o', 'yaml']).catch(() => ''));
      throw err;
    }
    const ns = (await k.kubectl(['get', 'incidentchannel', name, '-o', 'jsonpath={.status.namespace}'])).trim();
    say(`war room ${name} is Ready in namespace ${ns}`);
  }
  say(`up in ${((performance.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(k.timings)}`);
  process.stderr.write(
    [
      '',
      `  export KUBECONFIG=${k.kubeconfig}`,
      '  kubectl get incidentchannels',
      '  kubectl patch ic NAME --type merge -p \'{"spec":{"closed":true}}\'   # close a war room (evidence archived)',
      '  npm run kind:down                                                   # cluster, engine and lock gone',
      '',
    ].join('\n'),
  );
  return 0;
}

async function down(): Promise<number> {
  if (await runningEnginePid()) {
    say('mode: offline (the hand-started engine is running)');
    const open = await openChannels();
    if (open.length > 0 && process.env.FORCE !== '1') {
      say(`channels not closed yet: ${open.join(' ')}`);
      say('close them first (kubectl patch ic NAME --type merge -p \'{"spec":{"closed":true}}\'), or run with FORCE=1');
      return 1;
    }
    await kindDownOffline(say);
    say(`kind cluster ${CLUSTER_NAME} deleted, engine stopped, nothing left`);
    return 0;
  }
  const choice = chooseMode();
  if (choice.mode === 'online') {
    say(`mode: online (${choice.why})`);
    return online('down.sh');
  }
  // No engine at all: still sweep what a killed offline run may have left (links, cgroups, the lock).
  say('mode: offline (no engine running): removing anything a killed run left');
  await kindDownOffline(say);
  return 0;
}

/** Channels whose evidence is not exported yet (Closed and Expired are the terminal phases). */
async function openChannels(): Promise<string[]> {
  if (!existsSync(kubeconfigPath())) return [];
  const { kubectl } = await ensureBinaries(['kubectl']);
  const r = spawnSync(
    kubectl,
    [
      '--kubeconfig',
      kubeconfigPath(),
      'get',
      'incidentchannels',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split('='))
    .filter(([n, phase]) => n && phase !== 'Closed' && phase !== 'Expired')
    .map(([n]) => n as string);
}

const command = process.argv[2];
try {
  if (command === 'up') process.exit(await up());
  else if (command === 'down') process.exit(await down());
  else {
    say('usage: node hack/kind/cli.ts up|down');
    process.exit(2);
  }
} catch (err) {
  say(`error: ${(err as Error).message}`);
  process.exit(1);
}
