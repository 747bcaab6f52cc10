import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.ts';
import { createLogger, silentLogger } from '../../src/observability/logger.ts';
import { type Operator, startOperator } from '../../src/operator.ts';
import { type Clock, realClock } from '../../src/runtime/clock.ts';
import type { TestCluster } from '../cluster/index.ts';
import { kubectl } from './kubectl.ts';

export const CRD_FILE = fileURLToPath(new URL('../../crds/incidentchannels.warroom.dev.yaml', import.meta.url));

/** Applies the generated CRD (idempotent, safe from several test files at once) and waits until it is served. */
export async function installCrd(cluster: TestCluster): Promise<void> {
  const k = kubectl(cluster);
  await k.exec(['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
  await k.exec(['wait', '--for=condition=Established', 'crd/incidentchannels.warroom.dev', '--timeout=60s']);
  await k.exec(['create', 'namespace', 'warroom-system']).catch(() => undefined);
}

/** A label unique to one test file, so its operator reconciles only the channels that file creates. */
export function testShard(): { label: string; value: string; selector: string } {
  const value = randomBytes(4).toString('hex');
  return { label: 'warroom.dev/test-shard', value, selector: `warroom.dev/test-shard=${value}` };
}

/** A clock running `offsetMs` ahead of real time: lets a test see a 10-minute TTL run out in seconds. */
export function offsetClock(offsetMs: number): Clock {
  return { ...realClock, now: () => new Date(Date.now() + offsetMs) };
}

/**
 * Every test file's operator allocates relay blocks in the one shared cluster, where examples/full.yaml pins
 * 32000-32021 (its TURN and SFU ports): allocated blocks stay below, as the README advises for pinned ports. CI once
 * found full.yaml's 32010 held by another file's channel.
 */
export const SHARED_CLUSTER_RELAY_PORTS = '--relay-ports=30000-31999';

/**
 * Evidence settings for an operator run against kwok, which runs no pods, so no recorder ever answers: teardown says
 * so (EvidenceArchived=False) and goes on, instead of keeping the namespace as real war rooms do. Port 9 on loopback
 * refuses at once. Tests of the real evidence path pass their own recorder URLs and policy after these.
 */
export function kwokEvidenceFlags(stateDir: string): string[] {
  return [
    '--evidence-policy=skip-unreachable',
    '--recorder-status-url=http://127.0.0.1:9/{namespace}',
    '--recorder-control-url=http://127.0.0.1:9/{namespace}',
    `--evidence-dir=${join(stateDir, 'archives')}`,
    `--signing-key=${join(stateDir, 'signing-key.pem')}`,
  ];
}

export async function startTestOperator(
  cluster: TestCluster,
  opts: { selector: string; clock?: Clock; args?: string[]; logTo?: NodeJS.WritableStream },
): Promise<Operator> {
  const evidence = await mkdtemp(join(tmpdir(), 'warroom-evidence-'));
  const config = loadConfig(
    [
      `--kubeconfig=${cluster.kubeconfig}`,
      ...kwokEvidenceFlags(evidence),
      '--leader-elect=false',
      `--channel-selector=${opts.selector}`,
      '--namespace=warroom-system',
      '--workers=4',
      // No sealed-secrets controller runs in the shared test cluster; tests of sealing pass --secrets=sealed.
      '--secrets=plain',
      SHARED_CLUSTER_RELAY_PORTS,
      ...(opts.args ?? []),
    ],
    {},
  );
  // WARROOM_TEST_LOGS=debug shows the operator's own logs while debugging a test.
  const level = process.env.WARROOM_TEST_LOGS;
  const log = opts.logTo
    ? createLogger({ level: 'debug', destination: opts.logTo })
    : level
      ? createLogger({ level: level as 'debug' })
      : silentLogger();
  return startOperator({ config, log, clock: opts.clock });
}
