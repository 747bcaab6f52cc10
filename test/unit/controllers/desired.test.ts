import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BuildContext } from '../../../src/controllers/incidentchannel/desired/context.ts';
import { buildDesired } from '../../../src/controllers/incidentchannel/desired/index.ts';
import { buildNetworkPolicies } from '../../../src/controllers/incidentchannel/desired/network-policies.ts';
import { channelLabels, labelValue, namespaceName } from '../../../src/controllers/incidentchannel/names.ts';
import { exampleContext } from './channel-fixtures.ts';

const ctx = (over: Partial<BuildContext> = {}): BuildContext => ({
  ...exampleContext('minimal.yaml'),
  channel: { name: 'ir-2026-0042', uid: '5e0c4c1e-1111-2222-3333-444455556666' },
  namespace: 'wr-ir-2026-0042-abcdef',
  ...over,
});

test('namespace names are DNS-1123 labels, readable, and unique per channel incarnation', () => {
  const a = namespaceName('IR-2026-0042 (Exchange)', 'uid-1');
  assert.match(a, /^wr-ir-2026-0042-exchange-[0-9a-f]{6}$/);
  assert.notEqual(a, namespaceName('IR-2026-0042 (Exchange)', 'uid-2'));
  const long = namespaceName('x'.repeat(300), 'uid-1');
  assert.ok(long.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
  assert.match(namespaceName('!!!', 'uid'), /^wr-[0-9a-f]{6}$/);
});

test('label values stay within 63 characters', () => {
  assert.equal(labelValue('short'), 'short');
  const v = labelValue(`${'a'.repeat(100)}.example`);
  assert.ok(v.length <= 63 && /^[a-zA-Z0-9]/.test(v) && /[a-zA-Z0-9]$/.test(v));
});

test('the desired state starts with the PSA-restricted, owned Namespace, then the policies', () => {
  const objs = buildDesired(ctx());
  const [ns, first] = objs;
  assert.equal(ns?.kind, 'Namespace');
  assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/warn'], 'restricted');
  assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/audit'], 'restricted');
  assert.deepEqual(ns?.metadata.ownerReferences?.[0], {
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    name: 'ir-2026-0042',
    uid: '5e0c4c1e-1111-2222-3333-444455556666',
    controller: true,
    blockOwnerDeletion: true,
  });
  assert.equal(first?.kind, 'NetworkPolicy');
  const firstWorkloadish = objs.findIndex((o) => !['Namespace', 'NetworkPolicy'].includes(o.kind));
  const lastPolicy = objs.map((o) => o.kind).lastIndexOf('NetworkPolicy');
  assert.ok(lastPolicy < firstWorkloadish, 'every NetworkPolicy precedes everything else');
  for (const o of objs.slice(1)) {
    assert.equal(o.metadata.namespace, 'wr-ir-2026-0042-abcdef');
    assert.deepEqual({ ...o.metadata.labels }, { ...o.metadata.labels, ...channelLabels('ir-2026-0042') });
  }
});

test('builders are deterministic: the same context yields identical objects', () => {
  assert.deepEqual(buildDesired(ctx()), buildDesired(ctx()));
});

test('default deny both ways; Synapse has no egress with sqlite and only Postgres with postgres', () => {
  const byName = (c: BuildContext) => new Map(buildNetworkPolicies(c).map((p) => [p.metadata.name, p.spec as never]));
  const sqlite = byName(ctx());
  assert.deepEqual(sqlite.get('default-deny'), { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  const egressFor = (policies: Map<string, never>, component: string) =>
    [...policies.entries()].filter(([, spec]) => {
      const s = spec as {
        policyTypes: string[];
        podSelector: { matchExpressions?: { operator: string; values: string[] }[] };
      };
      if (!s.policyTypes.includes('Egress')) return false;
      const expr = s.podSelector.matchExpressions?.[0];
      if (!expr) return false; // the default deny
      return expr.operator === 'In' ? expr.values.includes(component) : !expr.values.includes(component);
    });
  assert.deepEqual(egressFor(sqlite, 'synapse'), [], 'no egress rule selects Synapse');
  const pg = byName(ctx({ database: 'postgres' }));
  assert.deepEqual(
    egressFor(pg, 'synapse')
      .map(([n]) => n)
      .sort(),
    ['allow-dns', 'synapse-to-postgres'],
  );
});

test('coturn may reach the internet but never private, metadata or cluster ranges', () => {
  const turn = buildNetworkPolicies(ctx()).find((p) => p.metadata.name === 'turn-egress-internet-only');
  assert.ok(turn);
  const block = (turn.spec as { egress: { to: { ipBlock: { cidr: string; except: string[] } }[] }[] }).egress[0]?.to[0]
    ?.ipBlock;
  assert.equal(block?.cidr, '0.0.0.0/0');
  for (const cidr of [
    '10.0.0.0/8',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '169.254.0.0/16',
    '100.64.0.0/10',
    '127.0.0.0/8',
  ]) {
    assert.ok(block?.except.includes(cidr), cidr);
  }
  assert.ok(block?.except.includes('172.18.0.0/16'), 'node CIDR');
  const ingress = buildNetworkPolicies(ctx()).find((p) => p.metadata.name === 'turn-ingress');
  assert.ok(ingress);
  assert.deepEqual((ingress.spec as { ingress: { ports: unknown[] }[] }).ingress[0]?.ports, [
    { protocol: 'UDP', port: 3478 },
    { protocol: 'TCP', port: 3478 },
    { protocol: 'UDP', port: ctx().calls.relayPortMin, endPort: ctx().calls.relayPortMax },
  ]);
  const noCalls = buildNetworkPolicies(ctx({ calls: { ...ctx().calls, enabled: false } }));
  assert.equal(
    noCalls.some((p) => p.metadata.name.startsWith('turn-')),
    false,
  );
});

test('every service account has token automount off', () => {
  const sas = buildDesired(ctx()).filter((o) => o.kind === 'ServiceAccount');
  assert.ok(sas.some((s) => s.metadata.name === 'default'));
  for (const sa of sas) assert.equal(sa.automountServiceAccountToken, false);
});
