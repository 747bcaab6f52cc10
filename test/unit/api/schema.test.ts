import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ConditionReason } from '../../../src/api/v1alpha1/conditions.ts';
import { buildCrd, type JsonSchema } from '../../../src/api/v1alpha1/crd.ts';
import {
  IncidentChannel,
  IncidentChannelSpec,
  IncidentChannelStatus,
  RULE_MESSAGES,
} from '../../../src/api/v1alpha1/incidentchannel.ts';
import { validateSpec } from '../../../src/api/v1alpha1/validation.ts';
import { type CorpusCase, loadCorpus, valueAtPath } from '../../corpus/index.ts';

const example = (name: string) =>
  parse(readFileSync(new URL(`../../../examples/${name}`, import.meta.url), 'utf8')) as {
    spec: Record<string, unknown>;
  };

const base = () => ({
  caseId: 'inc-7',
  ttl: '24h',
  participants: [{ handle: 'falcon', role: 'lead' }, { handle: 'heron' }],
});

/** The messages of a failed spec parse. */
function problems(spec: unknown): string[] {
  const r = validateSpec(spec);
  return r.ok ? [] : r.problems;
}

function assertValid(spec: unknown) {
  const r = validateSpec(spec);
  assert.ok(r.ok, r.ok ? '' : r.message);
}

function assertInvalid(spec: unknown, expected: string) {
  const found = problems(spec);
  assert.ok(
    found.some((p) => p.includes(expected)),
    `expected a problem containing ${JSON.stringify(expected)}, got ${JSON.stringify(found)}`,
  );
}

describe('examples', () => {
  it('minimal.yaml parses, with every default applied', () => {
    const spec = IncidentChannelSpec.parse(example('minimal.yaml').spec);
    assert.deepEqual(spec, {
      caseId: 'ir-2026-0042',
      ttl: '72h',
      severity: 'medium',
      closed: false,
      participants: [
        { handle: 'falcon', role: 'lead' },
        { handle: 'heron', role: 'responder' },
      ],
      calls: { enabled: true, turn: { serviceType: 'NodePort' } },
      recording: { enabled: true },
      storage: { size: '5Gi' },
      database: 'sqlite',
    });
  });

  it('full.yaml parses as a whole object', () => {
    const doc = parse(readFileSync(new URL('../../../examples/full.yaml', import.meta.url), 'utf8'));
    const parsed = IncidentChannel.parse(doc);
    assert.equal(parsed.spec.database, 'postgres');
    assert.equal(parsed.spec.calls.turn.relayPorts?.max, 32019);
  });

  it('full.yaml sets every spec field of the CRD schema', () => {
    const root = buildCrd().spec.versions[0]?.schema.openAPIV3Schema;
    assert.ok(root);
    const specSchema = (root.properties as Record<string, JsonSchema>).spec as JsonSchema;
    const schemaLeaves = new Set<string>();
    const collect = (n: JsonSchema, path: string) => {
      if (n.properties) {
        for (const [k, child] of Object.entries(n.properties as Record<string, JsonSchema>)) {
          collect(child, path ? `${path}.${k}` : k);
        }
      } else if (n.type === 'array' && (n.items as JsonSchema).properties) {
        collect(n.items as JsonSchema, `${path}[]`);
      } else {
        schemaLeaves.add(path);
      }
    };
    collect(specSchema, '');
    const dataLeaves = new Set<string>();
    const walk = (v: unknown, path: string) => {
      if (Array.isArray(v) && v.every((x) => typeof x === 'object')) {
        for (const x of v) walk(x, `${path}[]`);
      } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
      } else dataLeaves.add(path);
    };
    walk(example('full.yaml').spec, '');
    // tls takes exactly one of the two; the example shows clusterIssuer. images are shown commented out (each key
    // checked below), so the example runs as is with the operator's own images.
    const raw = readFileSync(new URL('../../../examples/full.yaml', import.meta.url), 'utf8');
    const commented = (p: string) => p.startsWith('images.') && raw.includes(`#   ${p.slice('images.'.length)}: `);
    const missing = [...schemaLeaves].filter(
      (p) => !dataLeaves.has(p) && p !== 'ingress.tls.secretName' && !commented(p),
    );
    assert.deepEqual(missing, [], 'add these to examples/full.yaml');
    const unknown = [...dataLeaves].filter((p) => !schemaLeaves.has(p));
    assert.deepEqual(unknown, [], 'examples/full.yaml sets fields the schema does not have (they would be pruned)');
  });
});

describe('spec rules (zod mirror of the CRD)', () => {
  it('accepts the boundaries of ttl: 10m and 8760h', () => {
    assertValid({ ...base(), ttl: '10m' });
    assertValid({ ...base(), ttl: '600s' });
    assertValid({ ...base(), ttl: '8760h' });
    assertValid({ ...base(), ttl: '1.5h' });
    assertInvalid({ ...base(), ttl: '9m59s' }, RULE_MESSAGES.ttlTooShort);
    assertInvalid({ ...base(), ttl: '8760h1s' }, RULE_MESSAGES.ttlTooLong);
    assertInvalid({ ...base(), ttl: '9999999999999h' }, RULE_MESSAGES.ttlUnparseable);
  });

  it('refuses duplicate handles, naming the duplicate', () => {
    assertInvalid(
      { ...base(), participants: [{ handle: 'owl' }, { handle: 'owl', role: 'lead' }] },
      'spec.participants[1].handle: participant handles must be unique: "owl"',
    );
  });

  it('accepts handles that only share letters, not a skeleton', () => {
    assertValid({
      ...base(),
      participants: [
        { handle: 'alice', role: 'lead' },
        { handle: 'alicia' },
        { handle: 'a.b=c-d_e' },
        { handle: 'bob2' },
      ],
    });
  });

  it('accepts case ids as ticket systems write them, up to 64 characters', () => {
    for (const caseId of [
      'IR-2026-0042',
      'INC0012345',
      'JIRA:SEC-12',
      'case#42',
      'sn/INC001',
      'ir-2026-0042',
      'a',
      '#',
      '../..',
      'x'.repeat(64),
    ]) {
      const r = validateSpec({ ...base(), caseId });
      assert.ok(r.ok, `${caseId}: ${r.ok ? '' : r.message}`);
      assert.equal(r.spec.caseId, caseId, 'kept exactly as written');
    }
  });

  it('refuses case ids with other characters, empty or longer than 64', () => {
    const format = 'spec.caseId: must be 1 to 64 letters, digits and - _ . : # /';
    for (const caseId of ['IR 2026', 'inc\\7', 'inc;7', '<b>', 'inc\n7', 'café-1', 'inc?7', 'inc*', "o'brien", '']) {
      assertInvalid({ ...base(), caseId }, caseId === '' ? 'spec.caseId' : format);
    }
    assertInvalid({ ...base(), caseId: 'x'.repeat(65) }, 'spec.caseId');
    assertInvalid({ ...base(), caseId: 42 }, 'spec.caseId');
  });

  it('refuses every system: user and group in access, saying why', () => {
    for (const name of [
      'system:authenticated',
      'system:unauthenticated',
      'system:anonymous',
      'system:serviceaccounts',
      'system:serviceaccounts:kube-system',
      'system:serviceaccount:kube-system:default',
      'system:masters',
      'system:nodes',
      'system:node:worker-1',
      'system:kube-controller-manager',
      'system:',
    ]) {
      assertInvalid(
        { ...base(), access: { groups: ['soc-team', name] } },
        `spec.access.groups[1]: ${RULE_MESSAGES.accessSystemIdentity}`,
      );
      assertInvalid(
        { ...base(), access: { users: [name] } },
        `spec.access.users[0]: ${RULE_MESSAGES.accessSystemIdentity}`,
      );
    }
    assert.match(RULE_MESSAGES.accessSystemIdentity, /password Secret/);
    assert.match(RULE_MESSAGES.accessSystemIdentity, /anonymous/);
    // People and the groups an identity provider gives them, even ones that merely contain "system".
    assertValid({
      ...base(),
      access: {
        users: ['alice@example.org', 'oidc:bob', 'systems-admin'],
        groups: ['soc-team', 'oidc:system:soc', 'System-Owners'],
      },
    });
  });

  it('requires a lead among the participants; a participant without a role is a responder', () => {
    assertValid({ ...base(), participants: [{ handle: 'falcon', role: 'lead' }] });
    assertValid({ ...base(), participants: [{ handle: 'heron' }, { handle: 'falcon', role: 'lead' }] });
    for (const participants of [
      [{ handle: 'falcon' }, { handle: 'heron' }],
      [
        { handle: 'falcon', role: 'comms' },
        { handle: 'heron', role: 'scribe' },
        { handle: 'owl', role: 'observer' },
      ],
      [{ handle: 'falcon', role: 'responder' }],
    ]) {
      assertInvalid({ ...base(), participants }, `spec.participants: ${RULE_MESSAGES.leadRequired}`);
    }
  });

  it('refuses an IP address as ingress.host, ingress.matrixHost or calls.turn.host, pointing at externalIPs', () => {
    const ingress = { host: 'chat.example.org', matrixHost: 'matrix.example.org' };
    for (const ip of ['192.0.2.10', '10.0.0.1', '2001:db8::1', '::1', '::ffff:192.0.2.10']) {
      assertInvalid({ ...base(), ingress: { ...ingress, host: ip } }, `spec.ingress.host: ${RULE_MESSAGES.hostIsIp}`);
      assertInvalid(
        { ...base(), ingress: { ...ingress, matrixHost: ip } },
        `spec.ingress.matrixHost: ${RULE_MESSAGES.hostIsIp}`,
      );
      assertInvalid({ ...base(), calls: { turn: { host: ip } } }, `spec.calls.turn.host: ${RULE_MESSAGES.hostIsIp}`);
    }
    assert.match(RULE_MESSAGES.hostIsIp, /calls\.turn\.externalIPs/);
    // Names that only look numeric are names, for the Ingress API too.
    assertValid({ ...base(), ingress: { host: '192.0.2.10.nip.example', matrixHost: '1.2.3' } });
    assertValid({ ...base(), calls: { turn: { host: 'turn.example.org', externalIPs: ['192.0.2.10'] } } });
  });

  it('requires different hosts and exactly one TLS source', () => {
    const ingress = { host: 'chat.example.org', matrixHost: 'matrix.example.org' };
    assertValid({ ...base(), ingress });
    assertValid({ ...base(), ingress: { ...ingress, tls: { secretName: 'chat-tls' } } });
    assertValid({ ...base(), ingress: { ...ingress, tls: { clusterIssuer: 'ca' } } });
    assertInvalid(
      { ...base(), ingress: { ...ingress, matrixHost: ingress.host } },
      `spec.ingress.matrixHost: ${RULE_MESSAGES.hostsMustDiffer}`,
    );
    assertInvalid({ ...base(), ingress: { ...ingress, tls: {} } }, RULE_MESSAGES.tlsExactlyOne);
  });

  it('bounds relay port ranges, with the NodePort range only for NodePort', () => {
    const turn = (t: object) => ({ ...base(), calls: { turn: t } });
    assertValid(turn({ relayPorts: { min: 30000, max: 30000 } }));
    assertValid(turn({ relayPorts: { min: 32668, max: 32767 } })); // 100 ports, at the top of the range
    assertInvalid(turn({ relayPorts: { min: 32667, max: 32767 } }), RULE_MESSAGES.relayPortsTooMany);
    assertInvalid(turn({ relayPorts: { min: 29999, max: 30010 } }), RULE_MESSAGES.relayPortsNodePort);
    assertValid(turn({ serviceType: 'LoadBalancer', relayPorts: { min: 49152, max: 49251 } }));
    assertInvalid(turn({ serviceType: 'LoadBalancer', relayPorts: { min: 2, max: 1 } }), 'spec.calls.turn.relayPorts');
    assertValid(turn({ externalIPs: ['203.0.113.10', '2001:db8::1'] }));
    assertInvalid(turn({ externalIPs: ['203.0.113.10', '203.0.113.10'] }), 'entries must be unique');
  });

  it('compares requests with limits as quantities', () => {
    const res = (requests: object, limits: object) => ({ ...base(), resources: { synapse: { requests, limits } } });
    assertValid(res({ cpu: '1000m', memory: '1Gi' }, { cpu: '1', memory: '1024Mi' }));
    assertValid(res({ cpu: '100m' }, { memory: '1Gi' })); // nothing to compare
    assertInvalid(
      res({ cpu: '1.5' }, { cpu: '1' }),
      `spec.resources.synapse.requests.cpu: ${RULE_MESSAGES.cpuRequestOverLimit}`,
    );
  });

  it('keeps storage at 1Gi or more', () => {
    assertValid({ ...base(), storage: { size: '1Gi' } });
    assertValid({ ...base(), storage: { size: '1073741824' } });
    assertInvalid({ ...base(), storage: { size: '1G' } }, RULE_MESSAGES.storageTooSmall);
  });

  it('accepts image references with registry ports, tags and digests', () => {
    for (const image of [
      'nginx',
      'localhost:5000/warroom/recorder:dev',
      'ghcr.io/element-hq/synapse:v1.139.0',
      `registry.example.org/coturn/coturn@sha256:${'a'.repeat(64)}`,
      `registry.example.org/coturn/coturn:4.7.0@sha256:${'b'.repeat(64)}`,
    ]) {
      assertValid({ ...base(), images: { synapse: image } });
    }
    assertInvalid({ ...base(), images: { synapse: 'nginx:latest@sha256:short' } }, 'spec.images.synapse');
  });

  it('strips unknown fields, as the apiserver prunes them', () => {
    const spec = IncidentChannelSpec.parse({ ...base(), colour: 'red' });
    assert.equal((spec as Record<string, unknown>).colour, undefined);
  });
});

describe('validateSpec', () => {
  it('returns the parsed spec with defaults', () => {
    const r = validateSpec(base());
    assert.ok(r.ok);
    assert.equal(r.spec.severity, 'medium');
  });

  it('names each field in the message, array indices included', () => {
    const r = validateSpec({ ...base(), severity: 'urgent', participants: [{ handle: 'ok' }, { handle: 'Bad' }] });
    assert.ok(!r.ok);
    assert.ok(r.problems.some((p) => p.startsWith('spec.severity: ')));
    assert.ok(r.problems.some((p) => p.startsWith('spec.participants[1].handle: ')));
    assert.equal(r.message, r.problems.join('; '));
  });

  it('reports a missing or non-object spec', () => {
    assert.ok(!validateSpec(undefined).ok);
    assert.ok(!validateSpec('spec').ok);
  });

  it('keeps the message short enough for a condition', () => {
    const participants = Array.from({ length: 200 }, (_, i) => ({ handle: `H${'x'.repeat(60)}${i}` }));
    const r = validateSpec({ ...base(), participants });
    assert.ok(!r.ok);
    assert.ok(r.message.length <= 4096, `${r.message.length}`);
    assert.ok(r.problems.length >= 200);
  });
});

describe('status schema', () => {
  const condition = {
    type: 'Ready',
    status: 'True',
    reason: 'AllComponentsReady',
    message: '',
    lastTransitionTime: '2026-03-01T10:00:00Z',
  };

  it('accepts what the operator writes', () => {
    const status = {
      phase: 'Ready',
      conditions: [condition, { ...condition, type: 'Stalled', status: 'False', observedGeneration: 2 }],
      observedGeneration: 2,
      namespace: 'wr-inc-7-4f2a9c',
      expiresAt: '2026-03-04T10:00:00Z',
      participantCount: 2,
      endpoints: {
        element: 'https://chat.example.org',
        homeserver: 'https://matrix.example.org',
        turn: ['turn:203.0.113.10:3478?transport=udp'],
      },
      credentialsSecret: 'warroom-credentials',
      recording: { events: 42, headHash: 'a'.repeat(64) },
      archive: { location: 'file:///evidence/inc-7.tar', sha256: 'b'.repeat(64), verifiedAt: '2026-03-04T10:01:00Z' },
      ttlWarningsSent: [3_600_000, 600_000],
      closedAt: '2026-03-04T10:00:00+01:00',
    };
    assert.deepEqual(IncidentChannelStatus.parse(status), status);
  });

  it('holds conditions to the metav1.Condition constraints', () => {
    const bad = (patch: object) =>
      IncidentChannelStatus.safeParse({ conditions: [{ ...condition, ...patch }] }).success;
    assert.equal(bad({}), true);
    assert.equal(bad({ reason: 'not camel case' }), false);
    assert.equal(bad({ reason: '' }), false);
    assert.equal(bad({ status: 'Yes' }), false);
    assert.equal(bad({ type: 'has space' }), false);
    assert.equal(bad({ type: 'warroom.dev/Custom' }), true);
    assert.equal(bad({ lastTransitionTime: 'yesterday' }), false);
    assert.equal(bad({ observedGeneration: -1 }), false);
    assert.equal(bad({ message: 'x'.repeat(32769) }), false);
  });

  it('rejects an unknown phase', () => {
    assert.equal(IncidentChannelStatus.safeParse({ phase: 'Running' }).success, false);
  });
});

describe('corpus', () => {
  const corpus = loadCorpus();
  const of = <E extends CorpusCase['expect']>(expect: E) =>
    corpus.filter((c): c is Extract<CorpusCase, { expect: E }> => c.expect === expect);

  it('has at least 30 cases of every kind that matters', () => {
    assert.ok(corpus.length >= 30, `${corpus.length}`);
    assert.ok(of('admission').filter((c) => c.operation === 'create').length >= 30);
    assert.ok(of('admission').filter((c) => c.operation === 'update').length >= 2);
    assert.ok(of('stalled').length >= 3);
    assert.ok(of('pruned').length >= 1);
  });

  it('names every object after its file, so cases can be applied side by side', () => {
    for (const c of corpus) {
      assert.equal(c.manifest.metadata.name, `corpus-${c.id}`);
      assert.equal(c.manifest.apiVersion, 'warroom.dev/v1alpha1');
      assert.equal(c.manifest.kind, 'IncidentChannel');
    }
  });

  for (const c of of('admission').filter((x) => x.operation === 'create')) {
    it(`admission/${c.id}: zod refuses it too, with the same message when it is a CEL rule`, () => {
      const r = validateSpec(c.manifest.spec);
      assert.ok(!r.ok, `${c.why}: zod accepted what the CRD refuses`);
      const rule = Object.values(RULE_MESSAGES).find((m) => c.message.includes(m.slice(0, 30)));
      if (rule) assert.ok(r.message.includes(rule), `expected ${JSON.stringify(rule)} in ${JSON.stringify(r.message)}`);
    });
  }

  for (const c of of('admission').filter((x) => x.operation === 'update')) {
    it(`admission/${c.id}: the original is valid; the change is ${c.changeAlone} on its own`, () => {
      assert.ok(c.original, 'an update case carries its original');
      assertValid(c.original.spec);
      assert.notDeepEqual(c.original.spec, c.manifest.spec);
      if (c.changeAlone === 'invalid') {
        // A rule every write passes: zod refuses the change with the very message the apiserver gives.
        assertInvalid(c.manifest.spec, c.message);
      } else {
        assertValid(c.manifest.spec); // only the transition is refused (a CEL rule on oldSelf)
      }
    });
  }

  for (const c of of('stalled')) {
    it(`stalled/${c.id}: zod refuses it with the expected message`, () => {
      assert.equal(c.reason, ConditionReason.InvalidSpec);
      const r = validateSpec(c.manifest.spec);
      assert.ok(!r.ok, `${c.why}: zod accepted it`);
      assert.ok(r.message.includes(c.message), `expected ${JSON.stringify(c.message)} in ${JSON.stringify(r.message)}`);
    });
  }

  for (const c of of('pruned')) {
    it(`pruned/${c.id}: valid once the unknown fields are dropped`, () => {
      for (const p of c.prunedPaths) assert.notEqual(valueAtPath(c.manifest, p), undefined, `${p} is in the manifest`);
      const r = validateSpec(c.manifest.spec);
      assert.ok(r.ok, r.ok ? '' : r.message);
      for (const p of c.prunedPaths) {
        assert.equal(valueAtPath({ spec: r.spec }, p), undefined, `${p} survives parsing`);
      }
    });
  }
});
