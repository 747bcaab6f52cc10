import { readFileSync } from 'node:fs';
import { after, before } from 'node:test';
import type { Component } from '../../hack/cluster/binaries.ts';
import { type LocalCluster, startCluster } from '../../hack/cluster/local-cluster.ts';

/** What a test needs of the cluster; serialisable, so one cluster can be shared by every test file of a run. */
export interface TestCluster {
  kubeconfig: string;
  server: string;
  caPem: string;
  adminToken: string;
  binaries: Record<Component, string>;
}

/** Set by hack/test.ts: the path of a JSON TestCluster that every test process of the run shares. */
export const SHARED_CLUSTER_ENV = 'WARROOM_TEST_CLUSTER';

export function describeCluster(c: LocalCluster): TestCluster {
  return { kubeconfig: c.kubeconfig, server: c.server, caPem: c.caPem, adminToken: c.adminToken, binaries: c.binaries };
}

let own: Promise<LocalCluster> | undefined;

/**
 * The real local control plane for a test file: the run's shared one when `npm test` started it, otherwise (a single
 * file run by hand) one of its own, stopped when the file ends.
 */
export async function startTestCluster(): Promise<TestCluster> {
  const shared = process.env[SHARED_CLUSTER_ENV];
  if (shared) return JSON.parse(readFileSync(shared, 'utf8')) as TestCluster;
  own ??= startCluster();
  return describeCluster(await own);
}

export async function stopTestCluster(): Promise<void> {
  const c = own;
  own = undefined;
  await (await c)?.stop();
}

export interface ClusterGetter {
  (): TestCluster;
  /** For the file's own `before` hooks: root-level hooks do not wait for each other. */
  ready(): Promise<TestCluster>;
}

/** Registers before/after hooks and returns a getter for the cluster, for use at the top of a test file. */
export function useCluster(): ClusterGetter {
  let cluster: TestCluster | undefined;
  let starting: Promise<TestCluster> | undefined;
  const ready = () => {
    starting ??= startTestCluster().then((c) => {
      cluster = c;
      return c;
    });
    return starting;
  };
  before(ready);
  after(stopTestCluster);
  const get = () => {
    if (!cluster) throw new Error('cluster not started yet: await cluster.ready() in before hooks');
    return cluster;
  };
  return Object.assign(get, { ready });
}
