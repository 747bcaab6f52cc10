// The Helm chart against the real local control plane with the real helm v3.19: lint, server-side dry run of what it
// renders, the evidence volume (PVC, mount, the replicas it allows, the signing-key Secret's copy), a real install whose
// PVC binds and whose Deployment becomes Ready (kwok runs the pods), and proof that its RBAC is ENOUGH: the operator
// process, holding nothing but a token of the chart's ServiceAccount, takes a channel with spec.access to Ready and
// closes it, in both secret modes.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import {
  eventRules,
  grantsSecretRead,
  leaderElectionRules,
  operatorClusterRules,
  type PolicyRule,
  sealingCertRules,
} from '../../deploy/pulumi/rbac.ts';
import { parseSettings } from '../../deploy/pulumi/settings.ts';
import { ensureBinaries } from '../../hack/cluster/binaries.ts';
import { renderKubeconfig } from '../../hack/cluster/local-cluster.ts';
import { loadConfig } from '../../src/config.ts';
import { ACCESS_ROLE } from '../../src/controllers/incidentchannel/desired/access.ts';
import { COMPONENTS, PORTS } from '../../src/controllers/incidentchannel/desired/ports.ts';
import { LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY } from '../../src/controllers/incidentchannel/names.ts';
import { loadOrCreateSigningKey } from '../../src/evidence/signing.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { kwokEvidenceFlags, SHARED_CLUSTER_RELAY_PORTS } from '../support/operator.ts';
import { rsaKeyPair, selfSignedCertPem } from '../support/sealed-secrets-certs.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const chartDir = join(root, 'charts/warroom');
const KUBE_VERSION = '1.34.1';
const SEALED_SECRETS_MODULE = 'github.com/bitnami-labs/sealed-secrets@v0.36.0';

const cluster = useCluster();
const id = randomBytes(3).toString('hex');
// Names for the render-only tests (nothing is created with them).
const release = `wr-${id}`;
const releaseNs = `warroom-helm-${id}`;
const fullname = `${release}-warroom`;
const serviceAccount = fullname;

let helmBin = '';
let workDir = '';

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field below
  [k: string]: any;
};

/** One real installation of the chart, its operator process and its test channel; cleaned up in `after`. */
interface Installation {
  mode: 'sealed' | 'plain';
  release: string;
  namespace: string;
  fullname: string;
  channel: string;
  operator?: ChildProcess;
  log: string;
}
const installations: Installation[] = [];

/** helm with its caches in the test's temp dir, so a run leaves nothing in $HOME. */
async function helm(args: string[], input?: string): Promise<string> {
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(workDir, 'helm/cache'),
    HELM_CONFIG_HOME: join(workDir, 'helm/config'),
    HELM_DATA_HOME: join(workDir, 'helm/data'),
  };
  const p = run(helmBin, args, { env, maxBuffer: 64 << 20 });
  if (input !== undefined) p.child.stdin?.end(input);
  try {
    return (await p).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}` || e.message);
  }
}

async function render(set: string[] = [], extra: string[] = []): Promise<Manifest[]> {
  const out = await helm([
    'template',
    release,
    chartDir,
    '--namespace',
    releaseNs,
    '--kube-version',
    KUBE_VERSION,
    ...set.flatMap((s) => ['--set', s]),
    ...extra,
  ]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const find = (ms: Manifest[], kind: string, name?: string) => {
  const m = ms.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(m, `${kind} ${name ?? ''} is rendered`);
  return m;
};

/** The upstream SealedSecret CRD, from the sealed-secrets Go module the kubeseal build already downloaded. */
async function sealedSecretCrd(): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', SEALED_SECRETS_MODULE], {
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  assert.ok(dir, `go mod download ${SEALED_SECRETS_MODULE} gave no directory`);
  return join(dir, 'helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml');
}

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'warroom-helm-'));
  helmBin = (await ensureBinaries(['helm'])).helm;
  // The server-side dry runs need the release namespace to exist; restricted, so a dry-run Pod proves its spec passes.
  await kubectl(await cluster.ready()).apply({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: releaseNs, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  });
});

after(async () => {
  const c = cluster();
  const k = kubectl(c);
  for (const inst of installations) {
    // The channel first, while the operator can still run its teardown; then drop the finalizer if it is stuck.
    await k.exec(['delete', 'incidentchannel', inst.channel, '--ignore-not-found', '--wait=false']).catch(() => {});
    const op = inst.operator;
    if (op && op.exitCode === null) {
      await eventually(
        'test channel gone',
        async () => (await k.getJson(['incidentchannel', inst.channel])) === undefined,
        30_000,
      ).catch(() => {});
      op.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1_000));
      if (op.exitCode === null) op.kill('SIGKILL');
    }
    await k
      .exec([
        'patch',
        'incidentchannel',
        inst.channel,
        '--type=json',
        '-p',
        '[{"op":"remove","path":"/metadata/finalizers"}]',
      ])
      .catch(() => {});
    await helm([
      '--kubeconfig',
      c.kubeconfig,
      'uninstall',
      inst.release,
      '--namespace',
      inst.namespace,
      '--wait',
    ]).catch(() => {});
    await k.exec(['delete', 'namespace', inst.namespace, '--ignore-not-found', '--wait=false']).catch(() => {});
  }
  await k.exec(['delete', 'namespace', releaseNs, '--ignore-not-found', '--wait=false']).catch(() => {});
  await rm(workDir, { recursive: true, force: true });
});

describe('helm chart', () => {
  test('helm lint --strict passes, with the defaults and with every optional part on', async () => {
    const base = ['lint', '--strict', '--kube-version', KUBE_VERSION, chartDir];
    const out = await helm(base);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    await helm([
      ...base,
      '--set',
      'secrets.mode=plain,serviceMonitor.enabled=true,grafanaDashboard.enabled=true,replicaCount=3',
      '--set',
      'evidence.persistence.accessModes={ReadWriteMany},evidence.signingKey.existingSecret=wr-signing-key',
    ]);
    await helm([...base, '--set', 'evidence.persistence.enabled=false']);
    // The schema is enforced: a typo'd key and a bad enum value fail the lint.
    await assert.rejects(helm([...base, '--set', 'replicas=2']), /additional properties 'replicas' not allowed/);
    await assert.rejects(helm([...base, '--set', 'secrets.mode=Sealed']), /\/secrets\/mode': value must be one of/);
    // lint reports a template's `fail` only as INFO; rendering refuses it.
    const twoReplicas = ['replicaCount=2', 'evidence.persistence.accessModes={ReadWriteMany}'];
    await assert.rejects(
      render(['leaderElection.enabled=false', ...twoReplicas]),
      /leaderElection.enabled=false needs replicaCount=1/,
    );
    await render(['leaderElection.enabled=false', 'replicaCount=1']);
    await assert.rejects(helm([...base, '--set', 'evidence.policy=skip-unreachable']), /additional properties/);
  });

  for (const mode of ['sealed', 'plain'] as const) {
    test(`helm template | kubectl apply --dry-run=server passes (secrets ${mode})`, async () => {
      const c = cluster();
      const manifests = await helm([
        'template',
        release,
        chartDir,
        '--namespace',
        releaseNs,
        '--kube-version',
        KUBE_VERSION,
        '--include-crds',
        '--set',
        `secrets.mode=${mode},grafanaDashboard.enabled=true`,
      ]);
      const out = await kubectl(c).exec(['apply', '--dry-run=server', '-f', '-'], manifests);
      for (const kind of [
        'customresourcedefinition',
        'clusterrole',
        'deployment',
        'persistentvolumeclaim',
        'networkpolicy',
      ]) {
        assert.match(out, new RegExp(`^${kind}[^\\n]*\\(server dry run\\)$`, 'm'), `${kind} accepted`);
      }
      assert.match(out, /configmap\/[^\n]*-dashboard[^\n]*\(server dry run\)/);
    });
  }

  test('the rendered Deployment is restricted, probed, spread, and configures the operator as values say', async () => {
    const ms = await render(['operator.maxTtl=168h', 'operator.workers=6', 'operator.channelSelector=tier=canary']);
    const d = find(ms, 'Deployment', fullname);
    assert.equal(d.spec.replicas, 1, 'one replica: the evidence volume is ReadWriteOnce');
    assert.deepEqual(d.spec.strategy, { type: 'Recreate' }, 'a surge pod could not attach the volume elsewhere');
    const pod = d.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, true);
    assert.equal(pod.serviceAccountName, serviceAccount);
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(pod.initContainers, undefined);
    const [c] = pod.containers;
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.ports[0].containerPort, 8080);
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
    assert.deepEqual(
      pod.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey),
      ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'],
    );
    // What the operator would parse from this environment (fieldRefs resolved as the kubelet would).
    const env: Record<string, string> = { POD_NAMESPACE: releaseNs, POD_NAME: `${fullname}-abc` };
    for (const e of c.env as { name: string; value?: string }[]) if (e.value !== undefined) env[e.name] = e.value;
    const config = loadConfig(c.args.slice(1), env);
    assert.equal(config.namespace, releaseNs);
    assert.equal(config.identity, `${fullname}-abc`);
    assert.equal(config.leaderElect, true);
    assert.equal(config.maxTtl, 168 * 3_600_000);
    assert.equal(config.workers, 6);
    assert.equal(config.channelSelector, 'tier=canary');
    assert.equal(config.httpPort, 8080);
    assert.deepEqual(config.dnsLabels, { 'k8s-app': 'kube-dns' });
    assert.deepEqual(config.monitoringNamespaceLabels, { 'kubernetes.io/metadata.name': 'monitoring' });
    // Evidence: archives and the key on the volume, and war rooms deleted only once their archive verified.
    assert.equal(config.evidenceDir, '/var/lib/warroom/evidence');
    assert.equal(config.signingKey, '/var/lib/warroom/signing-key.pem');
    assert.equal(config.evidencePolicy, 'require');
    assert.deepEqual(
      c.volumeMounts.find((m: { name: string }) => m.name === 'evidence'),
      { name: 'evidence', mountPath: '/var/lib/warroom' },
    );
    assert.deepEqual(
      pod.volumes.find((v: { name: string }) => v.name === 'evidence'),
      { name: 'evidence', persistentVolumeClaim: { claimName: `${fullname}-evidence` } },
    );
    const pvc = find(ms, 'PersistentVolumeClaim', `${fullname}-evidence`);
    assert.deepEqual(pvc.spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } });
    assert.equal(pvc.metadata.annotations?.['helm.sh/resource-policy'], 'keep', 'uninstall keeps the archives');

    // One replica: a minAvailable 1 budget would block every drain, so there is none.
    assert.ok(!ms.some((m) => m.kind === 'PodDisruptionBudget'));
    assert.equal(find(ms, 'Service').spec.ports[0].port, 8080);
    const np = find(ms, 'NetworkPolicy');
    assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
    assert.equal(ms.filter((m) => m.kind === 'ServiceMonitor' || m.kind === 'ConfigMap').length, 0, 'off by default');
  });

  test('replicaCount > 1 with a ReadWriteOnce (or -OncePod) evidence volume fails to render, saying why', async () => {
    for (const modes of [[], ['evidence.persistence.accessModes={ReadWriteOncePod}']]) {
      await assert.rejects(
        render(['replicaCount=2', ...modes]),
        /replicaCount > 1 needs evidence\.persistence\.accessModes to include ReadWriteMany: a ReadWriteOnce evidence volume attaches to one node/,
      );
    }
    // Without persistence there is nothing to attach: two replicas render (and their PDB), as before.
    const ms = await render(['replicaCount=2', 'evidence.persistence.enabled=false']);
    assert.equal(find(ms, 'Deployment').spec.replicas, 2);
    assert.ok(find(ms, 'PodDisruptionBudget'));
  });

  test('ReadWriteMany with 2 replicas: renders with the PDB and a rolling update', async () => {
    const ms = await render([
      'replicaCount=2',
      'evidence.persistence.accessModes={ReadWriteMany}',
      'evidence.persistence.storageClass=nfs-client',
      'evidence.persistence.size=100Gi',
    ]);
    const d = find(ms, 'Deployment', fullname);
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pdb = find(ms, 'PodDisruptionBudget', fullname);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels);
    assert.deepEqual(find(ms, 'PersistentVolumeClaim').spec, {
      accessModes: ['ReadWriteMany'],
      storageClassName: 'nfs-client',
      resources: { requests: { storage: '100Gi' } },
    });
    // podDisruptionBudget.enabled=false still wins.
    const none = await render([
      'replicaCount=2',
      'evidence.persistence.accessModes={ReadWriteMany}',
      'podDisruptionBudget.enabled=false',
    ]);
    assert.ok(!none.some((m) => m.kind === 'PodDisruptionBudget'));
  });

  test('persistence off: an emptyDir, no PVC, and the notes shout that archives are lost', async () => {
    const ms = await render(['evidence.persistence.enabled=false']);
    assert.ok(!ms.some((m) => m.kind === 'PersistentVolumeClaim'));
    const d = find(ms, 'Deployment', fullname);
    assert.deepEqual(
      d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'evidence'),
      { name: 'evidence', emptyDir: {} },
    );
    assert.equal(d.spec.strategy.type, 'RollingUpdate');
    const notes = (persistence: boolean) =>
      helm([
        '--kubeconfig',
        cluster().kubeconfig,
        'install',
        release,
        chartDir,
        '--namespace',
        releaseNs,
        '--dry-run=client',
        '--set',
        `evidence.persistence.enabled=${persistence}`,
      ]);
    const lost = await notes(false);
    assert.match(lost, /WARNING: evidence\.persistence\.enabled=false/);
    assert.match(lost, /EVERY ARCHIVE IS LOST WHEN THE OPERATOR POD RESTARTS/);
    const kept = await notes(true);
    assert.doesNotMatch(kept, /ARCHIVE IS LOST/);
    assert.match(kept, new RegExp(`PersistentVolumeClaim ${releaseNs}/${fullname}-evidence \\(20Gi, ReadWriteOnce\\)`));
    assert.match(kept, /Recommended: keep the key apart from the archives, in a Secret/);
  });

  test('extraEnv may set WARROOM_EVIDENCE_POLICY (the chart then sets none): one variable, never two', async () => {
    const ms = await render([
      'operator.extraEnv[0].name=WARROOM_EVIDENCE_POLICY',
      'operator.extraEnv[0].value=skip-unreachable',
    ]);
    const env = find(ms, 'Deployment').spec.template.spec.containers[0].env as { name: string; value?: string }[];
    assert.deepEqual(
      env.filter((e) => e.name === 'WARROOM_EVIDENCE_POLICY'),
      [{ name: 'WARROOM_EVIDENCE_POLICY', value: 'skip-unreachable' }],
    );
  });

  test('signingKey.existingSecret: mounted read-only apart from the archives, in a mode the operator accepts', async () => {
    const ms = await render(['evidence.signingKey.existingSecret=wr-signing-key']);
    const pod = find(ms, 'Deployment', fullname).spec.template.spec;
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'signing-key');
    assert.deepEqual(volume, {
      name: 'signing-key',
      secret: {
        secretName: 'wr-signing-key',
        defaultMode: 0o440,
        items: [{ key: 'signing-key.pem', path: 'signing-key.pem' }],
      },
    });
    const [c] = pod.containers;
    const mount = c.volumeMounts.find((m: { name: string }) => m.name === 'signing-key');
    assert.deepEqual(mount, { name: 'signing-key', mountPath: '/etc/warroom/signing-key', readOnly: true });
    const env = Object.fromEntries(
      (c.env as { name: string; value?: string }[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
    );
    const config = loadConfig([], env);
    assert.equal(config.signingKey, `${mount.mountPath}/signing-key.pem`);
    assert.ok(!config.signingKey.startsWith('/var/lib/warroom/'), 'not on the evidence volume');
    assert.equal(config.evidenceDir, '/var/lib/warroom/evidence');
    // No Secret named: the operator's own key on the evidence volume.
    const own = find(await render(), 'Deployment', fullname).spec.template.spec.containers[0];
    assert.equal(
      own.env.find((e: { name: string }) => e.name === 'WARROOM_SIGNING_KEY')?.value,
      '/var/lib/warroom/signing-key.pem',
    );

    // The file as the kubelet leaves it: the rendered mode plus group read for fsGroup (0440 for a read-only
    // volume), root-owned, group 65532. The operator's loader accepts that; a Secret's default 0644 it refuses.
    const dir = await mkdtemp(join(workDir, 'signing-key-'));
    const file = join(dir, 'signing-key.pem');
    await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file]);
    await chmod(file, volume.secret.defaultMode | 0o440);
    assert.equal((await loadOrCreateSigningKey(file)).asymmetricKeyType, 'ed25519');
    await chmod(file, 0o644);
    await assert.rejects(loadOrCreateSigningKey(file), /accessible to others/);

    // The restricted Pod Security Standard admits that pod: a dry-run Pod in a namespace that enforces it.
    const out = await kubectl(cluster()).exec(
      ['apply', '--dry-run=server', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${fullname}-dry`, namespace: releaseNs },
        // The release's ServiceAccount does not exist in this render-only namespace; admission would refuse it.
        spec: { ...pod, serviceAccountName: 'default' },
      }),
    );
    assert.match(out, /pod\/[^\n]*created \(server dry run\)/);
  });

  test('the NetworkPolicy lets the operator reach the recorders (9101, 9102 TCP) in war-room namespaces only', async () => {
    const np = find(await render(), 'NetworkPolicy', fullname);
    const recorder = (np.spec.egress as { to?: unknown[]; ports: { port: number | string }[] }[]).filter((e) =>
      e.ports.some((p) => p.port === PORTS.recorder || p.port === PORTS.recorderControl),
    );
    assert.deepEqual(recorder, [
      {
        to: [
          {
            namespaceSelector: { matchLabels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
            podSelector: { matchLabels: { [LABEL_COMPONENT]: COMPONENTS.synapse } },
          },
        ],
        ports: [
          { port: PORTS.recorder, protocol: 'TCP' },
          { port: PORTS.recorderControl, protocol: 'TCP' },
        ],
      },
    ]);
    // The API server and DNS rules are still there, and nothing else.
    assert.deepEqual(
      np.spec.egress.flatMap((e: { ports: { port: number }[] }) => e.ports.map((p) => p.port)),
      [443, 6443, 9101, 9102, 53, 53],
    );
  });

  test('optional parts render when enabled: ServiceMonitor, Grafana dashboard ConfigMap', async () => {
    const ms = await render(['serviceMonitor.enabled=true', 'grafanaDashboard.enabled=true']);
    const sm = find(ms, 'ServiceMonitor');
    assert.equal(sm.spec.endpoints[0].port, 'http');
    const cm = find(ms, 'ConfigMap', `${fullname}-dashboard`);
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    const dashboard = JSON.parse(cm.data['warroom-dashboard.json']);
    assert.ok(Array.isArray(dashboard.panels) && dashboard.panels.length > 0);
  });

  for (const mode of ['sealed', 'plain'] as const) {
    test(`the rendered ClusterRole is exactly the Pulumi program's (secrets ${mode})`, async () => {
      const ms = await render([`secrets.mode=${mode}`]);
      const role = find(ms, 'ClusterRole', fullname);
      const expected = operatorClusterRules(parseSettings({ image: 'x', name: fullname, secretsMode: mode }));
      assert.deepEqual(role.rules as PolicyRule[], expected);
      assert.deepEqual((role.rules as PolicyRule[]).filter(grantsSecretRead), []);
      // And every namespaced Role.
      const settings = parseSettings({ image: 'x', name: fullname, secretsMode: mode });
      const roles: [string, string, PolicyRule[]][] = [
        ['Role', `${fullname}-leader-election`, leaderElectionRules(settings)],
        ['Role', `${fullname}-events`, eventRules()],
      ];
      if (mode === 'sealed') roles.push(['Role', `${fullname}-sealing-cert`, sealingCertRules(settings)]);
      else assert.ok(!ms.some((m) => m.metadata.name === `${fullname}-sealing-cert`));
      for (const [kind, name, rules] of roles) assert.deepEqual(find(ms, kind, name).rules, rules, name);
    });
  }

  for (const mode of ['sealed', 'plain'] as const) {
    describe(`installed with helm (secrets ${mode}), operated with nothing but its ServiceAccount`, () => {
      const inst: Installation = {
        mode,
        release: `wr-${id}-${mode}`,
        namespace: `warroom-helm-${id}-${mode}`,
        fullname: `wr-${id}-${mode}-warroom`,
        channel: `helm-rbac-${id}-${mode}`,
        log: '',
      };
      installations.push(inst);
      const sa = inst.fullname;

      test('helm install: the CRD is there, the evidence PVC binds and the operator Deployment becomes Ready', async () => {
        const c = cluster();
        const k = kubectl(c);
        // The operator's namespace runs under the restricted Pod Security Standard: admission proves the pod spec.
        await k.apply({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: inst.namespace,
            labels: {
              'pod-security.kubernetes.io/enforce': 'restricted',
              'pod-security.kubernetes.io/warn': 'restricted',
            },
          },
        });
        if (mode === 'sealed') {
          // The real upstream SealedSecret CRD (no controller runs here: nothing unseals, which is not needed).
          await k.exec(['apply', '--server-side', '--force-conflicts', '-f', await sealedSecretCrd()]);
          await k.exec(['wait', '--for=condition=Established', 'crd/sealedsecrets.bitnami.com', '--timeout=60s']);
        }
        const out = await helm([
          '--kubeconfig',
          c.kubeconfig,
          'install',
          inst.release,
          chartDir,
          '--namespace',
          inst.namespace,
          '--set',
          `secrets.mode=${mode}`,
          '--wait',
          '--timeout',
          '180s',
        ]);
        assert.match(out, /STATUS: deployed/);
        assert.match(out, /kubectl apply -f ir-2026-0042\.yaml/, 'NOTES tell a SOC how to open a war room');
        if (mode === 'sealed') assert.match(out, /kubectl -n kube-system get service sealed-secrets-controller/);
        else assert.doesNotMatch(out, /sealed-secrets-controller/);
        assert.ok(await k.getJson(['crd', 'incidentchannels.warroom.dev']), 'the CRD is installed');
        const d = await k.getJson<{ status: { readyReplicas?: number } }>([
          'deployment',
          inst.fullname,
          '-n',
          inst.namespace,
        ]);
        assert.equal(d?.status.readyReplicas, 1);
        // Bound through the local cluster's host-path provisioner; --wait waited for it too.
        const pvc = await k.getJson<{ status: { phase?: string } }>([
          'pvc',
          `${inst.fullname}-evidence`,
          '-n',
          inst.namespace,
        ]);
        assert.equal(pvc?.status.phase, 'Bound');
        assert.equal(
          await k.getJson(['pdb', inst.fullname, '-n', inst.namespace]),
          undefined,
          'no PDB for one replica',
        );
      });

      test('kubectl auth can-i: no Secret reads anywhere, and exactly the escalations it needs', async () => {
        const k = kubectl(cluster());
        const as = `--as=system:serviceaccount:${inst.namespace}:${sa}`;
        const canI = async (...args: string[]) => {
          try {
            return (await k.exec(['auth', 'can-i', as, ...args])).trim();
          } catch (err) {
            return String((err as { stdout?: string }).stdout ?? '').trim();
          }
        };
        for (const verb of ['get', 'list', 'watch']) {
          assert.equal(await canI(verb, 'secrets', '-A'), 'no', `${verb} secrets -A`);
          assert.equal(await canI(verb, 'secrets', '-n', inst.namespace), 'no', `${verb} secrets in its own namespace`);
        }
        const writesSecrets = mode === 'plain' ? 'yes' : 'no';
        assert.equal(await canI('create', 'secrets', '-n', 'wr-anything'), writesSecrets);
        assert.equal(
          await canI('create', 'sealedsecrets.bitnami.com', '-n', 'wr-anything'),
          mode === 'sealed' ? 'yes' : 'no',
        );
        assert.equal(await canI('patch', 'incidentchannels.warroom.dev', '--subresource=status'), 'yes');
        assert.equal(await canI('create', 'namespaces'), 'yes');
        assert.equal(await canI('list', 'pods', '-n', 'wr-anything'), 'yes');
        assert.equal(await canI('get', 'pods', '-n', 'wr-anything'), 'no');
        // spec.access: the one Role name, and nothing wider.
        assert.equal(await canI('escalate', `roles/${ACCESS_ROLE}`, '-n', 'wr-anything'), 'yes');
        assert.equal(await canI('bind', `roles/${ACCESS_ROLE}`, '-n', 'wr-anything'), 'yes');
        assert.equal(await canI('escalate', 'roles/anything-else', '-n', 'wr-anything'), 'no');
        assert.equal(await canI('bind', 'roles/anything-else', '-n', 'wr-anything'), 'no');
        assert.equal(await canI('escalate', 'clusterroles'), 'no');
        assert.equal(await canI('bind', 'clusterroles/cluster-admin'), 'no');
        assert.equal(await canI('impersonate', 'users'), 'no');
        // Its own Lease only; events in "default".
        assert.equal(await canI('update', 'leases/warroom-operator', '-n', inst.namespace), 'yes');
        assert.equal(await canI('update', 'leases/some-other-lease', '-n', inst.namespace), 'no');
        assert.equal(await canI('create', 'events.events.k8s.io', '-n', 'default'), 'yes');
        // The sealing certificate through the proxy of that one Service and port, in sealed mode only.
        const proxy = ['get', 'services/sealed-secrets-controller:http', '--subresource=proxy', '-n', 'kube-system'];
        assert.equal(await canI(...proxy), mode === 'sealed' ? 'yes' : 'no');
        assert.equal(await canI('get', 'services/kube-dns:dns', '--subresource=proxy', '-n', 'kube-system'), 'no');
      });

      test('the operator with only that token takes a channel with spec.access to Ready, then closes it', async () => {
        const c = cluster();
        const k = kubectl(c);
        const token = (await k.exec(['create', 'token', sa, '-n', inst.namespace, '--duration=1h'])).trim();
        assert.ok(token.length > 100);
        const kubeconfig = join(workDir, `operator-${mode}.kubeconfig`);
        await writeFile(kubeconfig, renderKubeconfig(c.server, c.caPem, token, sa), { mode: 0o600 });
        const secretArgs = [`--secrets=${mode}`];
        if (mode === 'sealed') {
          // No sealed-secrets controller runs here, so the operator seals to a certificate from a file (the chart's
          // sealingCertConfigMap path). The proxy path's RBAC is checked with can-i above.
          const cert = join(workDir, 'sealing-cert.pem');
          await writeFile(cert, selfSignedCertPem(rsaKeyPair(2048)));
          secretArgs.push(`--sealing-cert=${cert}`);
        }
        const identity = `helm-rbac-${id}-${mode}`;
        const operator = spawn(
          join(root, 'node_modules/.bin/node'),
          [
            'src/main.ts',
            'operator',
            '--kubeconfig',
            kubeconfig,
            '--leader-elect=true',
            '--namespace',
            inst.namespace,
            '--http-port=0',
            '--http-address=127.0.0.1',
            `--identity=${identity}`,
            // Only this test's channel: the shared cluster may hold other tests' channels and operators.
            `--channel-selector=warroom.dev/test=${inst.channel}`,
            // The chart's in-cluster operator keeps policy require; on kwok no recorder runs (see the helper).
            ...kwokEvidenceFlags(join(workDir, `evidence-${mode}`)),
            SHARED_CLUSTER_RELAY_PORTS,
            ...secretArgs,
          ],
          { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } },
        );
        inst.operator = operator;
        // A request refused by RBAC means the chart's rules are not enough: fail now, not at the wait's timeout.
        let refused: (err: Error) => void = () => {};
        const forbidden = new Promise<never>((_, reject) => {
          refused = reject;
        });
        forbidden.catch(() => {});
        const keep = (d: Buffer) => {
          const text = d.toString();
          inst.log = (inst.log + text).slice(-20_000);
          const denied = /"message":"([^"]*403 Forbidden[^"]*)"/.exec(text);
          if (denied) refused(new Error(`the operator was refused by RBAC: ${denied[1]}`));
        };
        operator.stdout?.on('data', keep);
        operator.stderr?.on('data', keep);
        const exited = new Promise<number | null>((r) => operator.once('exit', r));
        // Waits fail at once, with the operator's log, if the operator dies or a wait times out.
        const died = exited.then((code) => {
          throw new Error(`the operator exited (${code}) early`);
        });
        died.catch(() => {});
        const whileAlive = <T>(what: Promise<T>) =>
          Promise.race([what, died, forbidden]).catch((err: Error) => {
            throw new Error(`${err.message}\noperator log:\n${inst.log}`);
          });

        await whileAlive(
          eventually(
            'the operator holds the Lease in its namespace',
            async () => {
              const lease = await k.getJson<{ spec: { holderIdentity?: string } }>([
                'lease',
                'warroom-operator',
                '-n',
                inst.namespace,
              ]);
              return lease?.spec.holderIdentity === identity;
            },
            30_000,
          ),
        );

        const example = parse(await readFile(join(root, 'examples/minimal.yaml'), 'utf8'));
        example.metadata = { name: inst.channel, labels: { 'warroom.dev/test': inst.channel } };
        example.spec.access = { users: [`soc-lead-${id}@example.org`], groups: [`soc-leads-${id}`] };
        await k.apply(example);

        type Channel = { metadata: { finalizers?: string[] }; status?: { phase?: string; namespace?: string } };
        const ready = await whileAlive(
          eventually(
            'channel Ready',
            async () => {
              const ch = await k.getJson<Channel>(['incidentchannel', inst.channel]);
              return ch?.status?.phase === 'Ready' ? ch : undefined;
            },
            120_000,
          ).catch(async (err: Error) => {
            const ch = await k.getJson<Channel>(['incidentchannel', inst.channel]).catch(() => undefined);
            throw new Error(`${err.message}; channel status: ${JSON.stringify(ch?.status)}`);
          }),
        );
        assert.deepEqual(ready.metadata.finalizers, ['warroom.dev/teardown']);
        const ns = ready.status?.namespace;
        assert.ok(ns, 'status names the namespace');
        const namespace = await k.getJson<{ status: { phase: string }; metadata: { labels: Record<string, string> } }>([
          'namespace',
          ns,
        ]);
        assert.equal(namespace?.status.phase, 'Active');
        assert.equal(namespace?.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
        const policies = await k.getJson<{ items: unknown[] }>(['networkpolicies', '-n', ns]);
        assert.ok((policies?.items.length ?? 0) > 0, 'default-deny NetworkPolicies applied');

        // The generated secrets: SealedSecrets only in sealed mode, Secrets written directly in plain mode.
        type Named = { items: { metadata: { name: string } }[] };
        const participantSecrets = ['participant-falcon', 'participant-heron'];
        if (mode === 'sealed') {
          const sealed = await k.getJson<Named>(['sealedsecrets.bitnami.com', '-n', ns]);
          const names = sealed?.items.map((s) => s.metadata.name) ?? [];
          for (const name of participantSecrets) assert.ok(names.includes(name), `SealedSecret ${name}`);
          const secrets = await k.getJson<Named>(['secrets', '-n', ns]);
          assert.deepEqual(secrets?.items.map((s) => s.metadata.name) ?? [], [], 'no plaintext Secret written');
        } else {
          const secrets = await k.getJson<Named>(['secrets', '-n', ns]);
          const names = secrets?.items.map((s) => s.metadata.name) ?? [];
          for (const name of participantSecrets) assert.ok(names.includes(name), `Secret ${name}`);
        }

        // spec.access: the Role the operator escalated to write, bound to the people listed, and what it grants.
        const role = await k.getJson<{ rules: PolicyRule[] }>(['role', ACCESS_ROLE, '-n', ns]);
        assert.deepEqual(role?.rules, [
          { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: participantSecrets },
        ]);
        const binding = await k.getJson<{ subjects: { kind: string; name: string }[] }>([
          'rolebinding',
          ACCESS_ROLE,
          '-n',
          ns,
        ]);
        assert.deepEqual(binding?.subjects.map((s) => `${s.kind}:${s.name}`).sort(), [
          `Group:soc-leads-${id}`,
          `User:soc-lead-${id}@example.org`,
        ]);
        const canLead = async (...args: string[]) =>
          (
            await k
              .exec(['auth', 'can-i', `--as=soc-lead-${id}@example.org`, '-n', ns, ...args])
              .catch((err: { stdout?: string }) => err.stdout ?? '')
          ).trim();
        assert.equal(await canLead('get', 'secret/participant-falcon'), 'yes');
        assert.equal(await canLead('get', 'secret/synapse-secrets'), 'no');
        assert.equal(await canLead('list', 'secrets'), 'no');

        // Events went to "default" from this very process (its identity), so its event Role works too.
        type Events = { items: { reason?: string; reportingInstance?: string; regarding?: { name?: string } }[] };
        const event = await whileAlive(
          eventually('a Ready event from this operator', async () => {
            const list = await k.getJson<Events>(['events.events.k8s.io', '-n', 'default']);
            return list?.items.find(
              (e) => e.reason === 'Ready' && e.reportingInstance === identity && e.regarding?.name === inst.channel,
            );
          }),
        );
        assert.ok(event);

        await k.exec(['patch', 'incidentchannel', inst.channel, '--type=merge', '-p', '{"spec":{"closed":true}}']);
        await whileAlive(
          eventually(
            'channel Closed and its namespace gone',
            async () => {
              const ch = await k.getJson<Channel>(['incidentchannel', inst.channel]);
              return ch?.status?.phase === 'Closed' && (await k.getJson(['namespace', ns])) === undefined;
            },
            120_000,
          ),
        );

        // Deleting the closed channel: the operator removes its finalizer, so the CR goes.
        await k.exec(['delete', 'incidentchannel', inst.channel, '--wait=false']);
        await whileAlive(
          eventually('channel deleted', async () => (await k.getJson(['incidentchannel', inst.channel])) === undefined),
        );

        assert.doesNotMatch(inst.log, /forbidden/i, 'no request of the operator was refused by RBAC');
        operator.kill('SIGTERM');
        assert.equal(await exited, 0, 'clean shutdown');
      });
    });
  }
});
