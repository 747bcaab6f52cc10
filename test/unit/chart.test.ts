// Pure checks of charts/warroom that need no helm binary: the copied CRD and dashboard are current, values.yaml is
// fully typed by values.schema.json, every RBAC rule says what its verbs are for and none lets the operator read a
// Secret, and the chart and the Pulumi program set the same operator environment. Rendering, `helm lint` and the real
// API server are in test/integration/helm.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { grantsSecretRead, operatorClusterRules, type PolicyRule } from '../../deploy/pulumi/rbac.ts';
import { ACCESS_ROLE as PULUMI_ACCESS_ROLE, parseSettings } from '../../deploy/pulumi/settings.ts';
import {
  EVIDENCE_MOUNT,
  operatorDeploymentSpec,
  operatorEnv,
  operatorNetworkPolicySpec,
  RECORDER_PORTS,
  SYNAPSE_POD_LABELS,
  WAR_ROOM_NAMESPACE_LABELS,
  wantsPdb,
} from '../../deploy/pulumi/workload.ts';
import { CHART_COPIES } from '../../hack/sync-chart.ts';
import { loadConfig } from '../../src/config.ts';
import { ACCESS_ROLE } from '../../src/controllers/incidentchannel/desired/access.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = join(root, 'charts/warroom');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const templates = (prefix: string) =>
  readdirSync(join(chart, 'templates'))
    .filter((f) => f.startsWith(prefix) && f.endsWith('.yaml'))
    .map((f) => ({ file: f, text: readFileSync(join(chart, 'templates', f), 'utf8') }));

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  minProperties?: number;
  maxLength?: number;
  minLength?: number;
  required?: string[];
  oneOf?: JsonSchema[];
}

const jsonType = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

/** The subset of JSON Schema the chart's schema uses, enough to check values.yaml and overrides against it. */
function validate(value: unknown, schema: JsonSchema, path: string, problems: string[]): void {
  if (schema.oneOf) {
    const ok = schema.oneOf.filter((s) => {
      const p: string[] = [];
      validate(value, s, path, p);
      return p.length === 0;
    });
    if (ok.length !== 1) problems.push(`${path}: matches ${ok.length} of oneOf`);
    return;
  }
  const t = jsonType(value);
  if (!schema.type) {
    problems.push(`${path}: the schema gives no type`);
    return;
  }
  if (!(t === schema.type || (schema.type === 'number' && t === 'integer'))) {
    problems.push(`${path}: ${t}, schema says ${schema.type}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: ${String(value)} not in ${schema.enum}`);
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: "${value}" !~ pattern`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) problems.push(`${path}: too long`);
    if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`${path}: too short`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${path}: above maximum`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) problems.push(`${path}: too few items`);
    if (!schema.items) problems.push(`${path}: array without an items schema`);
    else for (const [i, v] of value.entries()) validate(v, schema.items, `${path}[${i}]`, problems);
  }
  if (t === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) problems.push(`${path}.${r}: required`);
    if (schema.minProperties !== undefined && Object.keys(obj).length < schema.minProperties) {
      problems.push(`${path}: fewer than ${schema.minProperties} entries`);
    }
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) validate(v, sub, `${path}.${k}`, problems);
      else if (typeof schema.additionalProperties === 'object')
        validate(v, schema.additionalProperties, `${path}.${k}`, problems);
      else if (schema.additionalProperties === false) problems.push(`${path}.${k}: not allowed by the schema`);
    }
  }
}

/** Every object schema either lists its properties with additionalProperties: false, or is a typed map. */
function strictness(schema: JsonSchema, path: string, problems: string[]): void {
  for (const s of schema.oneOf ?? []) strictness(s, path, problems);
  if (schema.type === 'object' && schema.properties && schema.additionalProperties !== false) {
    problems.push(`${path}: has properties but allows others`);
  }
  for (const [k, v] of Object.entries(schema.properties ?? {})) strictness(v, `${path}.${k}`, problems);
  if (typeof schema.additionalProperties === 'object') strictness(schema.additionalProperties, `${path}.*`, problems);
  if (schema.items) strictness(schema.items, `${path}[]`, problems);
}

/**
 * The rules of an RBAC template, with the comment lines right above each one. Template directives are dropped, so a
 * rule inside {{ if }} is still checked.
 */
function rulesWithComments(text: string): { rule: PolicyRule; comment: string; line: number }[] {
  const lines = text.split('\n');
  const out: { rule: PolicyRule; comment: string; line: number }[] = [];
  const list = (s: string) =>
    s
      .replace(/^\[|\]$/g, '')
      .split(',')
      .map((x) => x.trim().replace(/^"|"$/g, ''));
  lines.forEach((line, i) => {
    const m = /^\s*- apiGroups: (\[.*\])\s*$/.exec(line);
    if (!m?.[1]) return;
    const comment: string[] = [];
    for (let j = i - 1; j >= 0; j--) {
      const l = lines[j]?.trim() ?? '';
      if (l.startsWith('#')) comment.unshift(l);
      else if (l.startsWith('{{')) continue;
      else break;
    }
    const field = (name: string) => {
      for (let j = i + 1; j < lines.length && !/^\s*- apiGroups:/.test(lines[j] ?? ''); j++) {
        const f = new RegExp(`^\\s*${name}: (\\[.*\\])\\s*$`).exec(lines[j] ?? '');
        if (f?.[1]) return list(f[1]);
        if (new RegExp(`^\\s*${name}:\\s*$`).test(lines[j] ?? '')) {
          const items: string[] = [];
          for (let k = j + 1; /^\s*- /.test(lines[k] ?? '') && !/^\s*- apiGroups:/.test(lines[k] ?? ''); k++) {
            items.push((lines[k] ?? '').replace(/^\s*- /, '').trim());
          }
          return items;
        }
      }
      return undefined;
    };
    const rule: PolicyRule = {
      apiGroups: list(m[1]),
      resources: field('resources') ?? [],
      verbs: field('verbs') ?? [],
    };
    const names = field('resourceNames');
    if (names) rule.resourceNames = names;
    out.push({ rule, comment: comment.join('\n'), line: i + 1 });
  });
  return out;
}

describe('chart files', () => {
  test('the chart copies of generated files are current (run `npm run chart:sync` when this fails)', () => {
    for (const { from, to, optional } of CHART_COPIES) {
      if (!existsSync(join(root, from))) {
        assert.ok(optional, `${from} must exist`);
        assert.ok(!existsSync(join(root, to)), `${to} is left over: ${from} no longer exists`);
        continue;
      }
      assert.ok(existsSync(join(root, to)), `${to} is missing: run npm run chart:sync`);
      assert.ok(read(from) === read(to), `${to} differs from ${from}: run npm run chart:sync`);
    }
    const crd = parse(read('charts/warroom/crds/incidentchannels.warroom.dev.yaml'));
    assert.equal(crd.kind, 'CustomResourceDefinition');
    assert.equal(crd.metadata.name, 'incidentchannels.warroom.dev');
  });

  test('Chart.yaml: Helm v3 chart whose appVersion is the operator version', () => {
    const meta = parse(read('charts/warroom/Chart.yaml'));
    const pkg = JSON.parse(read('package.json'));
    assert.equal(meta.apiVersion, 'v2');
    assert.equal(meta.name, 'warroom');
    assert.match(meta.version, /^\d+\.\d+\.\d+(-[\w.]+)?$/);
    assert.equal(meta.appVersion, pkg.version);
  });

  test('values.schema.json is strict and types every value in values.yaml', () => {
    const schema = JSON.parse(read('charts/warroom/values.schema.json')) as JsonSchema;
    const values = parse(read('charts/warroom/values.yaml'));
    const strict: string[] = [];
    strictness(schema, '$', strict);
    assert.deepEqual(strict, []);
    const problems: string[] = [];
    validate(values, schema, '$', problems);
    assert.deepEqual(problems, []);
    // Every key written in values.yaml is declared (not merely tolerated by a map) down to its leaves.
    const undeclared: string[] = [];
    const walk = (v: unknown, s: JsonSchema | undefined, path: string) => {
      if (!s) return void undeclared.push(path);
      if (jsonType(v) !== 'object' || !s.properties) return;
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        if (s.properties[k]) walk(child, s.properties[k], `${path}.${k}`);
        else if (typeof s.additionalProperties !== 'object') undeclared.push(`${path}.${k}`);
      }
    };
    walk(values, schema, '$');
    assert.deepEqual(undeclared, []);
  });

  test('the schema rejects what a typo or a bad value would be', () => {
    const schema = JSON.parse(read('charts/warroom/values.schema.json')) as JsonSchema;
    const values = parse(read('charts/warroom/values.yaml'));
    const bad = (patch: (v: typeof values) => void, expected: RegExp) => {
      const v = structuredClone(values);
      patch(v);
      const problems: string[] = [];
      validate(v, schema, '$', problems);
      assert.match(problems.join('\n'), expected);
    };
    bad((v) => {
      v.replicas = 2;
    }, /\$\.replicas: not allowed/);
    bad((v) => {
      v.secrets.mode = 'Sealed';
    }, /secrets\.mode/);
    bad((v) => {
      v.operator.maxTtl = '3 days';
    }, /operator\.maxTtl/);
    bad((v) => {
      v.operator.extraEnv = [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }];
    }, /extraEnv\[0\]\.valueFrom: not allowed/);
    bad((v) => {
      v.image.digest = 'latest';
    }, /image\.digest/);
    bad((v) => {
      v.evidence.persistence.accessModes = ['ReadOnlyMany'];
    }, /evidence\.persistence\.accessModes\[0\]/);
    bad((v) => {
      v.evidence.persistence.size = '20 GB';
    }, /evidence\.persistence\.size/);
    bad((v) => {
      v.evidence.persistence.storageclass = 'fast';
    }, /evidence\.persistence\.storageclass: not allowed/);
    bad((v) => {
      v.evidence.signingKey.existingSecret = 'My Key';
    }, /evidence\.signingKey\.existingSecret/);
    bad((v) => {
      v.evidence.policy = 'skip-unreachable';
    }, /evidence\.policy: not allowed/);
    bad((v) => {
      v.evidence.store = 'S3';
    }, /evidence\.store/);
    bad((v) => {
      v.evidence.s3.retention = '7 years';
    }, /evidence\.s3\.retention/);
    bad((v) => {
      v.evidence.s3.accessKey = 'AKIA...';
    }, /evidence\.s3\.accessKey: not allowed/);
    bad((v) => {
      v.evidence.timestamp.egressPorts = [];
    }, /evidence\.timestamp\.egressPorts/);
  });

  test('defaults: one replica on a persistent ReadWriteOnce evidence volume, the key on it unless a Secret is named', () => {
    const values = parse(read('charts/warroom/values.yaml'));
    assert.equal(values.replicaCount, 1);
    assert.equal(values.evidence.store, 'file');
    assert.equal(values.evidence.timestamp.url, '');
    assert.deepEqual(values.evidence.persistence, {
      enabled: true,
      storageClass: '',
      size: '20Gi',
      accessModes: ['ReadWriteOnce'],
    });
    assert.deepEqual(values.evidence.signingKey, { existingSecret: '' });
    // The operator's own defaults land on the volume the chart mounts (and the chart sets them explicitly too).
    const helpers = read('charts/warroom/templates/_helpers.tpl');
    assert.equal(/define "warroom\.evidenceMount" -\}\}\n([^\n{]+)\n/.exec(helpers)?.[1], EVIDENCE_MOUNT);
    const defaults = loadConfig([], {});
    assert.equal(defaults.evidenceDir, `${EVIDENCE_MOUNT}/evidence`);
    assert.equal(defaults.signingKey, `${EVIDENCE_MOUNT}/signing-key.pem`);
    assert.equal(defaults.evidencePolicy, 'require');
  });
});

describe('chart NetworkPolicy', () => {
  const text = read('charts/warroom/templates/networkpolicy.yaml');
  const policy = parse(
    text
      .split('\n')
      .filter((l) => !/^\s*\{\{/.test(l))
      .join('\n')
      .replace(/\{\{[^}]*\}\}/g, 'x'),
  );

  test('egress reaches the recorders (9101, 9102 TCP) in the namespaces and pods the operator labels as war rooms', () => {
    const recorder = (policy.spec.egress as { to?: unknown[]; ports: { port: unknown }[] }[]).find((e) =>
      e.ports.some((p) => p.port === 9102),
    );
    assert.deepEqual(recorder, {
      to: [
        {
          namespaceSelector: { matchLabels: WAR_ROOM_NAMESPACE_LABELS },
          podSelector: { matchLabels: SYNAPSE_POD_LABELS },
        },
      ],
      ports: RECORDER_PORTS.map((port) => ({ port, protocol: 'TCP' })),
    });
  });
});

describe('chart with the S3 evidence store', () => {
  test('Pulumi: two replicas roll, no evidence volume, the key from its Secret, egress to the bucket and the TSA', () => {
    const s = parseSettings({
      image: 'x',
      replicas: 2,
      signingKeySecret: 'key',
      evidenceStore: 's3',
      evidenceS3Bucket: 'evidence',
      evidenceS3CredentialsSecret: 's3-credentials',
      evidenceS3EgressCidrs: ['203.0.113.0/24'],
      evidenceTsaUrl: 'https://tsa.example.invalid/tsr',
      evidenceTsaRootConfigMap: 'tsa-root',
    });
    const spec = operatorDeploymentSpec(s);
    assert.deepEqual(spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    assert.ok(wantsPdb(s));
    const pod = JSON.stringify(spec.template);
    assert.doesNotMatch(pod, /persistentVolumeClaim|"name":"evidence"/);
    assert.match(pod, /"secretRef":\{"name":"s3-credentials"\}/);
    assert.match(pod, /"name":"tsa-root","configMap"/);
    const egress = JSON.stringify(operatorNetworkPolicySpec(s).egress);
    assert.match(
      egress,
      /\{"ports":\[\{"port":443,"protocol":"TCP"\}\],"to":\[\{"ipBlock":\{"cidr":"203.0.113.0\/24"\}\}\]\}/,
    );
    assert.throws(
      () => parseSettings({ image: 'x', evidenceStore: 's3', evidenceS3Bucket: 'evidence' }),
      /signingKeySecret: evidenceStore=s3 needs signingKeySecret/,
    );
  });

  test('the chart template has the same rules: no PVC and RollingUpdate with s3, fail without bucket or key Secret', () => {
    const deployment = read('charts/warroom/templates/deployment.yaml');
    assert.match(deployment, /fail "evidence.store=s3 needs evidence.signingKey.existingSecret/);
    assert.match(deployment, /fail "evidence.store=s3 needs evidence.s3.bucket/);
    assert.match(deployment, /secretRef:\n\s+name: \{\{ \$evidence.s3.credentialsSecret \}\}/);
    assert.match(read('charts/warroom/templates/_helpers.tpl'), /and \(eq \.Values\.evidence\.store "file"\)/);
    assert.match(read('charts/warroom/templates/evidence-pvc.yaml'), /eq \.Values\.evidence\.store "file"/);
    const values = read('charts/warroom/values.yaml');
    for (const never of [
      's3:DeleteObjectVersion',
      's3:BypassGovernanceRetention',
      's3:PutBucketObjectLockConfiguration',
    ]) {
      assert.match(values, new RegExp(`NEVER:[^]*${never}`));
    }
  });
});

describe('chart RBAC', () => {
  const rbac = templates('rbac-');

  test('every rule has a comment saying what each of its verbs is for', () => {
    const missing: string[] = [];
    let count = 0;
    for (const { file, text } of rbac) {
      for (const { rule, comment, line } of rulesWithComments(text)) {
        count++;
        assert.ok(rule.verbs.length > 0, `${file}:${line} has verbs`);
        for (const verb of rule.verbs) {
          if (!new RegExp(`(^|[^a-z])${verb}([^a-z]|$)`, 'm').test(comment)) missing.push(`${file}:${line} ${verb}`);
        }
      }
    }
    assert.ok(count >= 15, `found ${count} rules`);
    assert.deepEqual(missing, [], 'verbs without a comment explaining them');
  });

  test('no rule grants get, list or watch on Secrets, or any wildcard; escalate and bind only for the access Role', () => {
    assert.ok(rbac.length >= 3);
    const escalating: string[] = [];
    for (const { file, text } of rbac) {
      for (const { rule, line } of rulesWithComments(text)) {
        assert.ok(!grantsSecretRead(rule), `${file}:${line} lets the operator read Secrets`);
        for (const f of [rule.apiGroups, rule.resources, rule.verbs]) assert.ok(!f.includes('*'), `${file}:${line}`);
        if (rule.verbs.some((v) => v === 'escalate' || v === 'bind' || v === 'impersonate')) {
          escalating.push(`${file}:${line}`);
          assert.deepEqual(rule.resources, ['roles'], 'never clusterroles: those would reach every namespace');
          assert.deepEqual(rule.verbs, ['escalate', 'bind']);
          assert.deepEqual(rule.resourceNames, ['{{ include "warroom.accessRole" . }}']);
        }
      }
    }
    assert.equal(escalating.length, 1);
    // The name the chart allows is the name the operator writes.
    const helper = /define "warroom\.accessRole" -\}\}\n([^\n{]+)\n/.exec(
      read('charts/warroom/templates/_helpers.tpl'),
    );
    assert.equal(helper?.[1], ACCESS_ROLE);
    assert.equal(PULUMI_ACCESS_ROLE, ACCESS_ROLE);
  });

  test('the ClusterRole template and the Pulumi program grant the same rules', () => {
    const text = rbac.find((t) => t.file === 'rbac-cluster.yaml')?.text ?? '';
    // Both branches of the secrets-mode conditional are in the template text; Pulumi has one per mode.
    const chartRules = rulesWithComments(text).map((r) => r.rule);
    const sealed = parseSettings({ image: 'x', secretsMode: 'sealed' });
    const plain = parseSettings({ image: 'x', secretsMode: 'plain' });
    const normalise = (rules: PolicyRule[]) =>
      rules.map((r) => JSON.stringify({ ...r, resourceNames: r.resourceNames?.map(() => '<name>') }));
    const expected = new Set([...normalise(operatorClusterRules(sealed)), ...normalise(operatorClusterRules(plain))]);
    assert.deepEqual(new Set(normalise(chartRules)), expected);
  });
});

describe('chart Deployment environment', () => {
  const deployment = readFileSync(join(chart, 'templates/deployment.yaml'), 'utf8');
  const values = parse(read('charts/warroom/values.yaml'));
  // Literal names, plus the one templated family (WARROOM_<COMPONENT>_IMAGE over values.images).
  const chartEnv = [
    ...[...deployment.matchAll(/^\s*- name: ((?:WARROOM|POD)_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1] ?? ''),
    ...(deployment.includes('- name: WARROOM_{{ upper $component }}_IMAGE')
      ? Object.keys(values.images).map((c) => `WARROOM_${c.toUpperCase()}_IMAGE`)
      : []),
  ];

  test('sets the same variables as the Pulumi program (every branch of both)', () => {
    const images = { synapse: 's', element: 'e', coturn: 'c', postgres: 'p', livekit: 'l' };
    const variants = [
      {
        image: 'x',
        channelSelector: 'tier=canary',
        relayPorts: '32000-32019',
        nodeCidrs: ['172.18.0.0/16'],
        images,
        tokenReviewAudiences: ['a'],
      },
      { image: 'x', sealingCertConfigMap: 'sealing-cert', signingKeySecret: 'key', evidencePersistence: false },
      {
        image: 'x',
        signingKeySecret: 'key',
        evidenceStore: 's3',
        evidenceS3Bucket: 'evidence',
        evidenceS3Endpoint: 'https://s3.example.invalid',
        evidenceTsaUrl: 'https://tsa.example.invalid/tsr',
        evidenceTsaRootConfigMap: 'tsa-root',
      },
    ];
    const pulumiEnv = new Set(variants.flatMap((v) => operatorEnv(parseSettings(v)).map((e) => e.name)));
    assert.deepEqual([...new Set(chartEnv)].sort(), [...pulumiEnv].sort());
  });

  test('every variable is one src/config.ts reads', () => {
    const camel = (env: string) =>
      env
        .replace(/^WARROOM_/, '')
        .toLowerCase()
        .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const samples: Record<string, string> = {
      WARROOM_CHANNEL_SELECTOR: 'tier=canary',
      WARROOM_RELAY_PORTS: '30000-31999',
      WARROOM_NODE_CIDRS: '10.0.0.0/8',
      WARROOM_SEALING_CERT: '/etc/warroom/sealing-cert/cert.pem',
      WARROOM_OPERATOR_IMAGE: 'warroom:1',
      WARROOM_SYNAPSE_IMAGE: 'synapse:1',
      WARROOM_ELEMENT_IMAGE: 'element:1',
      WARROOM_COTURN_IMAGE: 'coturn:1',
      WARROOM_POSTGRES_IMAGE: 'postgres:1',
      WARROOM_LIVEKIT_IMAGE: 'livekit:1',
      WARROOM_EVIDENCE_POLICY: 'require',
      WARROOM_EVIDENCE_S3_BUCKET: 'evidence',
      WARROOM_EVIDENCE_S3_ENDPOINT: 'https://s3.example.invalid',
      WARROOM_EVIDENCE_RETENTION: '7y',
      WARROOM_EVIDENCE_TSA_URL: 'https://tsa.example.invalid/tsr',
      WARROOM_EVIDENCE_TSA_ROOT: '/etc/warroom/tsa-root/tsa-root.pem',
    };
    // Flags with a default are always in the parsed config; the optional ones are given a sample value.
    const config = loadConfig([], samples) as Record<string, unknown>;
    const unknown = chartEnv.filter((name) => name.startsWith('WARROOM_') && !(camel(name) in config));
    assert.deepEqual(unknown, []);
  });
});
