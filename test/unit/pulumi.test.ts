// The Pulumi program under Pulumi's own mocks: the engine and the Kubernetes provider plugin cannot be downloaded here,
// so this checks what the program ASKS for (every resource and its inputs), not a deployment.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { grantsSecretRead, type PolicyRule } from '../../deploy/pulumi/rbac.ts';
import { parseSettings, type WarroomSettingsInput } from '../../deploy/pulumi/settings.ts';
import {
  EVIDENCE_MOUNT,
  RECORDER_PORTS,
  SYNAPSE_POD_LABELS,
  WAR_ROOM_NAMESPACE_LABELS,
} from '../../deploy/pulumi/workload.ts';
import { loadConfig } from '../../src/config.ts';
import { ACCESS_ROLE } from '../../src/controllers/incidentchannel/desired/access.ts';
import { COMPONENTS, PORTS } from '../../src/controllers/incidentchannel/desired/ports.ts';
import { LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY } from '../../src/controllers/incidentchannel/names.ts';

interface Registered {
  type: string;
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: resource inputs are whatever the program passed; asserted field by field
  inputs: any;
}

const registered: Registered[] = [];
let WarroomOperator: typeof import('../../deploy/pulumi/warroom.ts').WarroomOperator;

before(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    'warroom',
    'unit',
    false,
  );
  // Stack config for the program test below; set before index.ts is imported.
  pulumi.runtime.setAllConfig({
    'warroom:image': 'registry.example.org/warroom@sha256:' + 'a'.repeat(64),
    'warroom:replicas': '3',
    // More than one replica needs a volume every replica can mount.
    'warroom:evidenceAccessModes': '["ReadWriteMany"]',
    'warroom:evidenceStorageClass': 'nfs-client',
    'warroom:name': 'wr-prog',
    'warroom:namespace': 'wr-prog-system',
    'warroom:podCidrs': '["10.42.0.0/16"]',
    'warroom:dnsLabels': '{"k8s-app":"coredns"}',
  });
  ({ WarroomOperator } = await import('../../deploy/pulumi/warroom.ts'));
});

const settled = (o: pulumi.Output<unknown>) => new Promise((resolve) => o.apply(resolve));

/** Builds one component under mocks and returns what it registered. */
async function deploy(component: string, input: Omit<WarroomSettingsInput, 'image'> & { image?: string }) {
  const op = new WarroomOperator(component, parseSettings({ image: 'warroom:test', ...input }));
  await Promise.all(op.children.map((c) => settled(c.urn)));
  return registered.filter((r) => r.name.startsWith(`${component}-`));
}

const ofType = (rs: Registered[], type: string) => rs.filter((r) => r.type === type);
const one = (rs: Registered[], type: string) => {
  const found = ofType(rs, type);
  assert.equal(found.length, 1, `exactly one ${type}, got ${found.length}`);
  return found[0]!;
};

/** Every rule the operator's ServiceAccount ends up holding, through any binding the component made. */
function rulesBoundTo(rs: Registered[], sa: { name: string; namespace: string }): PolicyRule[] {
  const rules: PolicyRule[] = [];
  const bindings = [
    ...ofType(rs, 'kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding'),
    ...ofType(rs, 'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding'),
  ];
  for (const b of bindings) {
    const bound = (b.inputs.subjects as { kind: string; name: string; namespace: string }[]).some(
      (s) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace,
    );
    if (!bound) continue;
    const roleType = `kubernetes:rbac.authorization.k8s.io/v1:${b.inputs.roleRef.kind}`;
    const role = ofType(rs, roleType).find(
      (r) =>
        r.inputs.metadata.name === b.inputs.roleRef.name &&
        (b.inputs.roleRef.kind === 'ClusterRole' || r.inputs.metadata.namespace === b.inputs.metadata.namespace),
    );
    assert.ok(role, `binding ${b.inputs.metadata.name} points at a role the component created`);
    rules.push(...role.inputs.rules);
  }
  return rules;
}

describe('Pulumi program (mocks)', () => {
  test('installs the CRD exactly as generated, and keeps it on delete', async () => {
    const rs = await deploy('crd', {});
    const crd = one(rs, 'kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition');
    const expected = parse(
      readFileSync(new URL('../../crds/incidentchannels.warroom.dev.yaml', import.meta.url), 'utf8'),
    );
    assert.equal(crd.inputs.metadata.name, 'incidentchannels.warroom.dev');
    assert.equal(crd.inputs.spec.scope, 'Cluster');
    assert.deepEqual(crd.inputs.spec, expected.spec);
  });

  test('the Deployment runs restricted: non-root 65532, read-only root, no capabilities, RuntimeDefault seccomp', async () => {
    const rs = await deploy('sec', {});
    const d = one(rs, 'kubernetes:apps/v1:Deployment');
    assert.equal(d.inputs.metadata.namespace, 'warroom-system');
    assert.equal(d.inputs.spec.replicas, 1, 'one replica: the default evidence volume is ReadWriteOnce');
    const pod = d.inputs.spec.template.spec;
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(pod.initContainers, undefined, 'no init container without a signing-key Secret');
    assert.equal(pod.automountServiceAccountToken, true);
    assert.equal(pod.enableServiceLinks, false);
    const [c, ...others] = pod.containers;
    assert.equal(others.length, 0);
    assert.equal(c.image, 'warroom:test');
    assert.deepEqual(c.args, ['operator']);
    assert.equal(c.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.runAsUser, 65532);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.privileged, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.deepEqual(c.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    const env = new Map((c.env as { name: string; value?: string }[]).map((e) => [e.name, e]));
    assert.deepEqual(env.get('POD_NAMESPACE'), {
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    assert.equal(env.get('WARROOM_LEADER_ELECT')?.value, 'true');
    assert.equal(env.get('WARROOM_MAX_TTL')?.value, '720h');
    assert.equal(env.get('WARROOM_SECRETS')?.value, 'sealed');
    assert.equal(
      env.get('WARROOM_OPERATOR_IMAGE')?.value,
      'warroom:test',
      'the provisioner and recorder run this image',
    );
    assert.equal(pod.topologySpreadConstraints.length, 2);
    // A surge pod on another node could never attach the ReadWriteOnce volume: the old pod goes first.
    assert.deepEqual(d.inputs.spec.strategy, { type: 'Recreate' });
  });

  test('the evidence volume: a retained PVC mounted at /var/lib/warroom, and the operator configured to use it', async () => {
    const rs = await deploy('evidence', { name: 'wr-ev', evidenceStorageClass: 'fast-ssd', evidenceSize: '50Gi' });
    const pvc = one(rs, 'kubernetes:core/v1:PersistentVolumeClaim');
    assert.equal(pvc.inputs.metadata.name, 'wr-ev-evidence');
    assert.equal(pvc.inputs.metadata.namespace, 'warroom-system');
    assert.equal(pvc.inputs.metadata.annotations['pulumi.com/skipAwait'], 'true', 'WaitForFirstConsumer classes');
    assert.deepEqual(pvc.inputs.spec, {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'fast-ssd',
      resources: { requests: { storage: '50Gi' } },
    });
    const pod = one(rs, 'kubernetes:apps/v1:Deployment').inputs.spec.template.spec;
    assert.deepEqual(
      pod.volumes.find((v: { name: string }) => v.name === 'evidence'),
      { name: 'evidence', persistentVolumeClaim: { claimName: 'wr-ev-evidence' } },
    );
    const [c] = pod.containers;
    assert.deepEqual(
      c.volumeMounts.find((m: { name: string }) => m.name === 'evidence'),
      { name: 'evidence', mountPath: '/var/lib/warroom' },
    );
    // What the operator parses from that environment: both its evidence paths on the volume, policy require.
    const env = Object.fromEntries(
      (c.env as { name: string; value?: string }[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
    );
    const config = loadConfig([], env);
    assert.equal(config.evidenceDir, '/var/lib/warroom/evidence');
    assert.equal(config.signingKey, '/var/lib/warroom/signing-key.pem');
    assert.ok(
      config.evidenceDir.startsWith(`${EVIDENCE_MOUNT}/`) && config.signingKey.startsWith(`${EVIDENCE_MOUNT}/`),
    );
    assert.equal(config.evidencePolicy, 'require');
    // The default storage class when none is named.
    const plain = await deploy('evidence-default', { name: 'wr-evd' });
    assert.equal(one(plain, 'kubernetes:core/v1:PersistentVolumeClaim').inputs.spec.storageClassName, undefined);
  });

  test('evidencePersistence=false: no claim, an emptyDir (archives lost on restart)', async () => {
    const rs = await deploy('ephemeral', { evidencePersistence: false, replicas: 2 });
    assert.equal(ofType(rs, 'kubernetes:core/v1:PersistentVolumeClaim').length, 0);
    const d = one(rs, 'kubernetes:apps/v1:Deployment');
    assert.deepEqual(
      d.inputs.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'evidence'),
      { name: 'evidence', emptyDir: {} },
    );
    // Nothing shared to attach: two replicas roll out one by one, and a PDB keeps one through drains.
    assert.equal(d.inputs.spec.replicas, 2);
    assert.equal(d.inputs.spec.strategy.type, 'RollingUpdate');
    assert.equal(one(rs, 'kubernetes:policy/v1:PodDisruptionBudget').inputs.spec.minAvailable, 1);
  });

  test('replicas: more than one needs ReadWriteMany; with it, RollingUpdate and a PDB', async () => {
    assert.throws(
      () => parseSettings({ image: 'x', replicas: 2 }),
      /warroom:replicas: replicas > 1 needs evidenceAccessModes to include ReadWriteMany/,
    );
    assert.throws(
      () => parseSettings({ image: 'x', replicas: 2, evidenceAccessModes: ['ReadWriteOncePod'] }),
      /ReadWriteMany/,
    );
    const rs = await deploy('rwx', { replicas: 2, evidenceAccessModes: ['ReadWriteMany'] });
    const d = one(rs, 'kubernetes:apps/v1:Deployment');
    assert.equal(d.inputs.spec.replicas, 2);
    assert.deepEqual(d.inputs.spec.strategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    assert.deepEqual(one(rs, 'kubernetes:core/v1:PersistentVolumeClaim').inputs.spec.accessModes, ['ReadWriteMany']);
    assert.equal(one(rs, 'kubernetes:policy/v1:PodDisruptionBudget').inputs.spec.minAvailable, 1);
    // One replica: no PDB, which would block every node drain.
    const single = await deploy('single', {});
    assert.equal(ofType(single, 'kubernetes:policy/v1:PodDisruptionBudget').length, 0);
  });

  test('signingKeySecret: mounted read-only apart from the archives, and the operator reads it there', async () => {
    const rs = await deploy('key', { signingKeySecret: 'wr-signing-key' });
    const pod = one(rs, 'kubernetes:apps/v1:Deployment').inputs.spec.template.spec;
    assert.deepEqual(
      pod.volumes.find((v: { name: string }) => v.name === 'signing-key'),
      {
        name: 'signing-key',
        secret: {
          secretName: 'wr-signing-key',
          defaultMode: 0o440,
          items: [{ key: 'signing-key.pem', path: 'signing-key.pem' }],
        },
      },
    );
    assert.equal(pod.initContainers, undefined);
    const [c] = pod.containers;
    assert.deepEqual(
      c.volumeMounts.find((m: { name: string }) => m.name === 'signing-key'),
      { name: 'signing-key', mountPath: '/etc/warroom/signing-key', readOnly: true },
    );
    const env = new Map((c.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
    assert.equal(env.get('WARROOM_SIGNING_KEY'), '/etc/warroom/signing-key/signing-key.pem');
    assert.equal(env.get('WARROOM_EVIDENCE_DIR'), '/var/lib/warroom/evidence');
  });

  test('namespace, ServiceAccount, Service, PDB and NetworkPolicy match the chart', async () => {
    const rs = await deploy('objs', { namespace: 'ops-warroom', replicas: 2, evidenceAccessModes: ['ReadWriteMany'] });
    const ns = one(rs, 'kubernetes:core/v1:Namespace');
    assert.equal(ns.inputs.metadata.name, 'ops-warroom');
    assert.equal(ns.inputs.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const sa = one(rs, 'kubernetes:core/v1:ServiceAccount');
    assert.equal(sa.inputs.metadata.namespace, 'ops-warroom');
    assert.equal(sa.inputs.automountServiceAccountToken, true);
    const svc = one(rs, 'kubernetes:core/v1:Service');
    assert.deepEqual(svc.inputs.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    const pdb = one(rs, 'kubernetes:policy/v1:PodDisruptionBudget');
    assert.equal(pdb.inputs.spec.minAvailable, 1);
    const np = one(rs, 'kubernetes:networking.k8s.io/v1:NetworkPolicy');
    assert.deepEqual(np.inputs.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(
      np.inputs.spec.egress.flatMap((e: { ports: { port: number }[] }) => e.ports.map((p) => p.port)),
      [443, 6443, 9101, 9102, 53, 53],
    );
  });

  test('NetworkPolicy: egress to the recorders (9101, 9102 TCP) in war-room namespaces only', async () => {
    const rs = await deploy('netpol', {});
    const np = one(rs, 'kubernetes:networking.k8s.io/v1:NetworkPolicy');
    const recorder = np.inputs.spec.egress.find((e: { ports: { port: number }[] }) =>
      e.ports.some((p) => p.port === 9102),
    );
    assert.deepEqual(recorder, {
      to: [
        {
          namespaceSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'warroom' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/component': 'synapse' } },
        },
      ],
      ports: [
        { port: 9101, protocol: 'TCP' },
        { port: 9102, protocol: 'TCP' },
      ],
    });
    // The same labels and ports the operator puts on war rooms and the recorder listens on.
    assert.deepEqual(WAR_ROOM_NAMESPACE_LABELS, { [LABEL_MANAGED_BY]: MANAGED_BY });
    assert.deepEqual(SYNAPSE_POD_LABELS, { [LABEL_COMPONENT]: COMPONENTS.synapse });
    assert.deepEqual(RECORDER_PORTS, [PORTS.recorder, PORTS.recorderControl]);
  });

  test('createNamespace=false, podDisruptionBudget=false, networkPolicy=false leave those out', async () => {
    const rs = await deploy('lean', {
      createNamespace: false,
      podDisruptionBudget: false,
      networkPolicy: false,
      // Two replicas, which would otherwise get a PDB.
      replicas: 2,
      evidenceAccessModes: ['ReadWriteMany'],
    });
    assert.equal(ofType(rs, 'kubernetes:core/v1:Namespace').length, 0);
    assert.equal(ofType(rs, 'kubernetes:policy/v1:PodDisruptionBudget').length, 0);
    assert.equal(ofType(rs, 'kubernetes:networking.k8s.io/v1:NetworkPolicy').length, 0);
    assert.equal(ofType(rs, 'kubernetes:apps/v1:Deployment').length, 1);
  });

  for (const secretsMode of ['sealed', 'plain'] as const) {
    test(`RBAC (secrets ${secretsMode}): nothing bound to the operator can read a Secret`, async () => {
      const rs = await deploy(`rbac-${secretsMode}`, { name: `wr-${secretsMode}`, secretsMode });
      const rules = rulesBoundTo(rs, { name: `wr-${secretsMode}`, namespace: 'warroom-system' });
      assert.ok(rules.length > 10, 'the operator is bound to its rules');
      assert.deepEqual(rules.filter(grantsSecretRead), []);
      const secretRules = rules.filter((r) => r.resources.includes('secrets'));
      if (secretsMode === 'plain') {
        assert.deepEqual(secretRules, [
          { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch', 'delete'] },
        ]);
      } else {
        assert.deepEqual(secretRules, []);
        assert.ok(rules.some((r) => r.apiGroups.includes('bitnami.com') && r.resources.includes('sealedsecrets')));
      }
      // spec.access: the operator may write and bind the one participant-credentials-reader Role, nothing else.
      assert.deepEqual(
        rules.filter((r) => r.verbs.some((v) => v === 'bind' || v === 'escalate' || v === 'impersonate')),
        [
          {
            apiGroups: ['rbac.authorization.k8s.io'],
            resources: ['roles'],
            verbs: ['escalate', 'bind'],
            resourceNames: [ACCESS_ROLE],
          },
        ],
      );
      assert.ok(!rules.some((r) => r.verbs.includes('*') || r.resources.includes('*') || r.apiGroups.includes('*')));
    });
  }

  test('sealing certificate: the service proxy by default, or a ConfigMap mount and no proxy access', async () => {
    const proxy = await deploy('cert-proxy', { name: 'wr-proxy' });
    const certRole = ofType(proxy, 'kubernetes:rbac.authorization.k8s.io/v1:Role').find(
      (r) => r.inputs.metadata.name === 'wr-proxy-sealing-cert',
    );
    assert.equal(certRole?.inputs.metadata.namespace, 'kube-system');
    assert.deepEqual(certRole?.inputs.rules, [
      {
        apiGroups: [''],
        resources: ['services/proxy'],
        verbs: ['get'],
        resourceNames: ['sealed-secrets-controller:http'],
      },
    ]);
    const envOf = (rs: Registered[]) =>
      new Map(
        (
          one(rs, 'kubernetes:apps/v1:Deployment').inputs.spec.template.spec.containers[0].env as {
            name: string;
            value?: string;
          }[]
        ).map((e) => [e.name, e.value]),
      );
    assert.equal(envOf(proxy).get('WARROOM_SEALED_SECRETS_PORT'), 'http');
    assert.equal(envOf(proxy).has('WARROOM_SEALING_CERT'), false);

    const mounted = await deploy('cert-cm', { name: 'wr-cm', sealingCertConfigMap: 'sealing-cert' });
    assert.ok(
      !ofType(mounted, 'kubernetes:rbac.authorization.k8s.io/v1:Role').some(
        (r) => r.inputs.metadata.name === 'wr-cm-sealing-cert',
      ),
    );
    const pod = one(mounted, 'kubernetes:apps/v1:Deployment').inputs.spec.template.spec;
    assert.deepEqual(
      pod.volumes.find((v: { name: string }) => v.name === 'sealing-cert'),
      {
        name: 'sealing-cert',
        configMap: { name: 'sealing-cert', items: [{ key: 'cert.pem', path: 'cert.pem' }] },
      },
    );
    assert.equal(envOf(mounted).get('WARROOM_SEALING_CERT'), '/etc/warroom/sealing-cert/cert.pem');
    assert.equal(envOf(mounted).has('WARROOM_SEALED_SECRETS_SERVICE'), false);
  });

  test('anonymous health off: probes switch to TCP (the kubelet sends no token)', async () => {
    const rs = await deploy('noanon', { httpAnonymousHealth: false });
    const c = one(rs, 'kubernetes:apps/v1:Deployment').inputs.spec.template.spec.containers[0];
    for (const p of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      assert.deepEqual(p.tcpSocket, { port: 'http' });
      assert.equal(p.httpGet, undefined);
    }
  });

  test('leader election: a Role in the release namespace, update limited to the one Lease', async () => {
    const rs = await deploy('lease', { leaseName: 'my-lease' });
    const roles = ofType(rs, 'kubernetes:rbac.authorization.k8s.io/v1:Role');
    const le = roles.find((r) => r.inputs.metadata.name === 'warroom-leader-election');
    assert.ok(le);
    assert.equal(le.inputs.metadata.namespace, 'warroom-system');
    assert.deepEqual(le.inputs.rules[1], {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'update'],
      resourceNames: ['my-lease'],
    });
    const events = roles.find((r) => r.inputs.metadata.name === 'warroom-events');
    assert.equal(events?.inputs.metadata.namespace, 'default');
    assert.deepEqual(events?.inputs.rules, [
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
    ]);
  });

  test('stack config: index.ts reads it, and bad values fail with a line naming the key', async () => {
    await import('../../deploy/pulumi/index.ts');
    const deployment = await (async () => {
      for (let i = 0; i < 100; i++) {
        const d = registered.find(
          (r) => r.type === 'kubernetes:apps/v1:Deployment' && r.inputs.metadata.name === 'wr-prog',
        );
        if (d) return d;
        await new Promise((r) => setTimeout(r, 10));
      }
      return undefined;
    })();
    assert.ok(deployment, 'index.ts registered the Deployment');
    assert.equal(deployment.inputs.metadata.namespace, 'wr-prog-system');
    assert.equal(deployment.inputs.spec.replicas, 3);
    const claim = registered.find(
      (r) => r.type === 'kubernetes:core/v1:PersistentVolumeClaim' && r.inputs.metadata.name === 'wr-prog-evidence',
    );
    assert.deepEqual(claim?.inputs.spec.accessModes, ['ReadWriteMany'], 'a list setting is read as JSON');
    assert.equal(claim?.inputs.spec.storageClassName, 'nfs-client');
    const c = deployment.inputs.spec.template.spec.containers[0];
    assert.match(c.image, /@sha256:a{64}$/);
    const env = new Map((c.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
    assert.equal(env.get('WARROOM_POD_CIDRS'), '10.42.0.0/16');
    assert.equal(env.get('WARROOM_DNS_LABELS'), 'k8s-app=coredns');

    assert.throws(() => parseSettings({ image: 'x', replicas: 9 }), /warroom:replicas/);
    assert.throws(() => parseSettings({ image: 'x', maxTtl: 'forever' }), /warroom:maxTtl/);
    assert.throws(() => parseSettings({ image: 'x', replicas: 2, leaderElection: false }), /warroom:leaderElection/);
    assert.throws(() => parseSettings({ image: 'x', replicaCount: 2 }), /replicaCount/);
    assert.throws(() => parseSettings({ image: 'x', evidenceSize: 'big' }), /warroom:evidenceSize/);
    assert.throws(
      () => parseSettings({ image: 'x', evidenceAccessModes: ['ReadOnlyMany'] }),
      /warroom:evidenceAccessModes/,
    );
    assert.throws(() => parseSettings({ image: 'x', signingKeySecret: 'Key!' }), /warroom:signingKeySecret/);
    assert.throws(() => parseSettings({}), /warroom:image/);
  });
});
