// The bad-input corpus against the real apiserver (CRD schema + CEL) and the real operator (zod → Stalled).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { namespaceName } from '../../src/controllers/incidentchannel/names.ts';
import type { Operator } from '../../src/operator.ts';
import { useCluster } from '../cluster/index.ts';
import { type CorpusCase, loadCorpus, type Manifest, valueAtPath } from '../corpus/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';

const cluster = useCluster();
const shard = testShard();
const corpus = loadCorpus();
let operator: Operator | undefined;

before(async () => {
  await installCrd(await cluster.ready());
  operator = await startTestOperator(cluster(), { selector: shard.selector });
});
after(async () => {
  await operator?.stop();
  const k = kubectl(cluster());
  await k.exec(['delete', 'incidentchannels', '-l', shard.selector, '--wait=false']).catch(() => undefined);
});

const labelled = (m: Manifest): Manifest => ({
  ...m,
  metadata: { ...m.metadata, labels: { ...((m.metadata.labels as object) ?? {}), [shard.label]: shard.value } },
});
const stderrOf = (err: unknown) => String((err as { stderr?: string }).stderr ?? err);

test('the corpus has at least 30 cases, of each kind', () => {
  assert.ok(corpus.length >= 30, `${corpus.length} cases`);
  for (const kind of ['admission', 'stalled'] as const)
    assert.ok(
      corpus.some((c) => c.expect === kind),
      kind,
    );
});

describe('rejected at admission by the real apiserver', () => {
  for (const c of corpus.filter((x): x is Extract<CorpusCase, { expect: 'admission' }> => x.expect === 'admission')) {
    test(`${c.id}: ${c.why}`, async () => {
      const k = kubectl(cluster());
      if (c.operation === 'update') {
        assert.ok(c.original, 'an update case carries its original');
        await k.apply(labelled(c.original));
      }
      const err = await k.apply(labelled(c.manifest)).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err, `the apiserver accepted ${c.id}`);
      assert.ok(stderrOf(err).includes(c.message), `expected "${c.message}" in:\n${stderrOf(err)}`);
    });
  }
});

describe('ticket-style case ids are admitted as written and get a DNS namespace', () => {
  // How incident trackers write ids, plus the extremes: 64 characters, and one with no letter or digit at all.
  // None may be the caseId of another live channel of this shard (that one would be Stalled DuplicateCaseId).
  const caseIds = ['IR-2026-0042', 'INC0012345', 'JIRA:SEC-12', 'case#42', 'sn/INC001', `SN/${'#:'.repeat(30)}X`, '#'];
  caseIds.forEach((caseId, i) => {
    test(`caseId ${JSON.stringify(caseId)}`, async () => {
      const k = kubectl(cluster());
      const name = `corpus-ticket-id-${i}`;
      await k.apply(
        labelled({
          apiVersion: 'warroom.dev/v1alpha1',
          kind: 'IncidentChannel',
          metadata: { name },
          spec: { caseId, ttl: '24h', participants: [{ handle: 'falcon', role: 'lead' }, { handle: 'heron' }] },
        }),
      );
      const stored = await k.getJson<{ metadata: { uid: string }; spec: { caseId: string } }>([
        'incidentchannel',
        name,
      ]);
      assert.equal(stored?.spec.caseId, caseId, 'stored exactly as written');
      // The operator creates the namespace under the slug; the apiserver refuses any name that is not a DNS label.
      const namespace = namespaceName(caseId, stored?.metadata.uid ?? '');
      assert.match(namespace, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      assert.ok(namespace.length <= 63, namespace);
      await eventually(`namespace ${namespace}`, () => k.getJson(['namespace', namespace]));
    });
  });
});

describe('admitted, then Stalled by the operator with a readable reason', () => {
  for (const c of corpus.filter((x): x is Extract<CorpusCase, { expect: 'stalled' }> => x.expect === 'stalled')) {
    test(`${c.id}: ${c.why}`, async () => {
      const k = kubectl(cluster());
      await k.apply(labelled(c.manifest));
      const stalled = await eventually(`${c.id} Stalled`, async () => {
        const ic = await k.getJson<{
          status?: { phase?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
        }>(['incidentchannel', c.manifest.metadata.name]);
        const cond = ic?.status?.conditions?.find((x) => x.type === 'Stalled' && x.status === 'True');
        return cond ? { cond, phase: ic?.status?.phase } : undefined;
      });
      assert.equal(stalled.cond.reason, c.reason);
      assert.ok(stalled.cond.message.includes(c.message), `expected "${c.message}" in "${stalled.cond.message}"`);
      assert.equal(stalled.phase, 'Failed');
    });
  }
});

describe('unknown fields are pruned, not stored', () => {
  for (const c of corpus.filter((x): x is Extract<CorpusCase, { expect: 'pruned' }> => x.expect === 'pruned')) {
    test(`${c.id}: ${c.why}`, async () => {
      const k = kubectl(cluster());
      // kubectl 1.34 asks for strict field validation by default; a client that does not gets its fields pruned.
      await k.exec(['apply', '--validate=warn', '-f', '-'], JSON.stringify(labelled(c.manifest)));
      const stored = await k.getJson(['incidentchannel', c.manifest.metadata.name]);
      for (const path of c.prunedPaths) assert.equal(valueAtPath(stored, path), undefined, path);
      const strict = await k
        .exec(['apply', '--validate=strict', '--dry-run=server', '-f', '-'], JSON.stringify(labelled(c.manifest)))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(strict && stderrOf(strict).includes(c.strictMessage), stderrOf(strict));
    });
  }
});
