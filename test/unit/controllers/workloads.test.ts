import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import type { BuildContext } from '../../../src/controllers/incidentchannel/context-from-spec.ts';
import { ACCESS_ROLE, buildAccess } from '../../../src/controllers/incidentchannel/desired/access.ts';
import { turnUris } from '../../../src/controllers/incidentchannel/desired/endpoints.ts';
import { buildDesired, PRUNABLE_KINDS } from '../../../src/controllers/incidentchannel/desired/index.ts';
import { buildIngress, buildSfuIngress } from '../../../src/controllers/incidentchannel/desired/ingress.ts';
import { buildNetworkPolicies } from '../../../src/controllers/incidentchannel/desired/network-policies.ts';
import type { Container, PodSpec } from '../../../src/controllers/incidentchannel/desired/pod-types.ts';
import {
  buildProvisionerJob,
  PROVISIONER_ENV,
} from '../../../src/controllers/incidentchannel/desired/provisioner-job.ts';
import { participantSecretName } from '../../../src/controllers/incidentchannel/desired/secret-names.ts';
import { checkPodRestricted } from '../../../src/controllers/incidentchannel/desired/security.ts';
import { buildSynapseStatefulSet } from '../../../src/controllers/incidentchannel/desired/synapse.ts';
import { channelLabels, LABEL_COMPONENT } from '../../../src/controllers/incidentchannel/names.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';
import { exampleContext, find, workloads } from './channel-fixtures.ts';

/** The variations a channel can take: every builder branch is reached by at least one of them. */
const VARIANTS: [string, () => BuildContext][] = [
  ['minimal (sqlite, calls, no ingress)', () => exampleContext('minimal.yaml')],
  ['full (postgres, ingress, access, externalIPs)', () => exampleContext('full.yaml')],
  [
    'no calls, no recording',
    () => exampleContext('minimal.yaml', { calls: { enabled: false }, recording: { enabled: false } }),
  ],
  [
    'LoadBalancer TURN, TLS secret, postgres',
    () =>
      exampleContext('full.yaml', {
        calls: {
          turn: { serviceType: 'LoadBalancer', externalIPs: ['2001:db8::7'], relayPorts: { min: 40000, max: 40004 } },
        },
        ingress: { host: 'chat.example.org', matrixHost: 'matrix.example.org', tls: { secretName: 'my-cert' } },
      }),
  ],
];

type Template = { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
const templateOf = (o: KubeObject) => (o.spec as { template: Template }).template;
const allContainers = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];
const data = (o: KubeObject) => o.data as Record<string, string>;

describe('every variant', () => {
  for (const [name, make] of VARIANTS) {
    test(`${name}: every pod template passes PSA restricted and keeps tokens, links and the root fs locked`, () => {
      const objects = buildDesired(make());
      const pods = workloads(objects);
      assert.ok(pods.length >= 3);
      for (const w of pods) {
        const spec = templateOf(w).spec;
        assert.deepEqual(checkPodRestricted(spec), [], `${w.kind}/${w.metadata.name}`);
        assert.equal(spec.automountServiceAccountToken, false, w.metadata.name);
        assert.equal(spec.enableServiceLinks, false, w.metadata.name);
        assert.equal(spec.serviceAccountName, w.metadata.labels?.[LABEL_COMPONENT], 'own ServiceAccount');
        for (const c of allContainers(spec)) {
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${w.metadata.name}/${c.name}`);
          assert.ok(c.resources?.requests?.cpu && c.resources.limits?.memory, `${w.metadata.name}/${c.name} resources`);
        }
        const volumeNames = new Set((spec.volumes ?? []).map((v) => v.name));
        const claims = (
          (w.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []
        ).map((t) => t.metadata.name);
        for (const c of allContainers(spec)) {
          for (const m of c.volumeMounts ?? []) {
            assert.ok(
              volumeNames.has(m.name) || claims.includes(m.name),
              `${w.metadata.name}/${c.name} mounts ${m.name}`,
            );
          }
        }
      }
    });

    test(`${name}: every child is namespaced and carries the channel labels and a component`, () => {
      const ctx = make();
      const [ns, ...children] = buildDesired(ctx);
      assert.equal(ns?.kind, 'Namespace');
      const seen = new Set<string>();
      for (const o of children) {
        assert.equal(o.metadata.namespace, ctx.namespace, `${o.kind}/${o.metadata.name}`);
        const labels = o.metadata.labels ?? {};
        assert.deepEqual({ ...labels, ...channelLabels(ctx.channel.name) }, labels, `${o.kind}/${o.metadata.name}`);
        if (!['NetworkPolicy', 'ResourceQuota', 'LimitRange'].includes(o.kind) && o.metadata.name !== 'default') {
          assert.ok(labels[LABEL_COMPONENT], `${o.kind}/${o.metadata.name} has a component`);
        }
        const key = `${o.kind}/${o.metadata.name}`;
        assert.equal(seen.has(key), false, `duplicate ${key}`);
        seen.add(key);
      }
    });

    test(`${name}: deterministic, byte for byte`, () => {
      assert.equal(JSON.stringify(buildDesired(make())), JSON.stringify(buildDesired(make())));
    });

    test(`${name}: each workload's pods are selected by the NetworkPolicies meant for them`, () => {
      const ctx = make();
      const objects = buildDesired(ctx);
      const policies = buildNetworkPolicies(ctx);
      const selecting = (labels: Record<string, string>) =>
        policies
          .filter((p) => matches((p.spec as { podSelector: Selector }).podSelector, labels))
          .map((p) => p.metadata.name)
          .sort();
      const expected: Record<string, string[]> = {
        synapse: [
          'allow-ingress-controller',
          'allow-operator-to-recorder',
          'allow-prometheus',
          'allow-provisioner-to-synapse',
        ],
        element: ['allow-ingress-controller'],
        coturn: ['allow-dns', 'turn-egress-internet-only', 'turn-ingress'],
        provisioner: ['allow-dns', 'provisioner-egress'],
        postgres: ['allow-dns', 'postgres-from-synapse'],
        livekit: ['allow-dns', 'sfu-media-ingress', 'sfu-signalling-ingress', 'sfu-egress-internet-only'],
        'rtc-authoriser': ['allow-dns', 'rtc-authoriser-ingress', 'rtc-authoriser-egress'],
      };
      if (ctx.calls.sfu) expected.synapse?.push('synapse-from-rtc-authoriser');
      if (ctx.database === 'postgres') expected.synapse?.push('allow-dns', 'synapse-to-postgres');
      for (const w of workloads(objects)) {
        const labels = templateOf(w).metadata.labels;
        const component = labels[LABEL_COMPONENT] ?? '';
        const got = selecting(labels);
        assert.ok(got.includes('default-deny'), `${component} is under default deny`);
        for (const policy of expected[component] ?? assert.fail(`unexpected component ${component}`)) {
          assert.ok(got.includes(policy), `${component} pods must be selected by ${policy}; got ${got.join(', ')}`);
        }
        // The workload's own selector (Jobs get a generated one) must hit its pods.
        if (w.kind !== 'Job') assert.ok(matches((w.spec as unknown as { selector: Selector }).selector, labels));
      }
      // Where a policy names its peers by pod label, those peers are real pods of ours.
      const provisionerEgress = policies.find((p) => p.metadata.name === 'provisioner-egress');
      const egress = provisionerEgress?.spec as { egress: { to: { podSelector: Selector }[] }[] } | undefined;
      const peer = egress?.egress[0]?.to[0]?.podSelector;
      assert.ok(peer && matches(peer, templateOf(find(objects, 'StatefulSet', 'synapse')).metadata.labels));
      const ports = workloads(objects).flatMap((w) =>
        templateOf(w).spec.containers.flatMap((c) => (c.ports ?? []).map((p) => `${c.name}:${p.containerPort}`)),
      );
      assert.ok(ports.includes('synapse:8008') && ports.includes('element:8080'), ports.join(','));
    });

    test(`${name}: no ConfigMap holds a secret, only paths to mounted files`, () => {
      const objects = buildDesired(make());
      const configMaps = objects.filter((o) => o.kind === 'ConfigMap');
      assert.ok(configMaps.length >= 2);
      for (const cm of configMaps) {
        for (const [key, value] of Object.entries(data(cm))) {
          assert.doesNotMatch(value, /static-auth-secret|BEGIN .*PRIVATE KEY|ed25519 a_/, `${cm.metadata.name}/${key}`);
          assert.doesNotMatch(
            value,
            /^\s*(registration_shared_secret|macaroon_secret_key|form_secret|turn_shared_secret|password):/m,
            `${cm.metadata.name}/${key} has an inline secret`,
          );
        }
      }
      assert.equal(
        objects.some((o) => o.kind === 'Secret' || o.kind === 'SealedSecret'),
        false,
        'secrets are not desired state',
      );
    });
  }
});

test('the apply order: namespace, policies, quota, accounts, config, services, workloads, ingress, access, Job', () => {
  const kinds = buildDesired(exampleContext('full.yaml')).map((o) => `${o.kind}/${o.metadata.name}`);
  const order = [
    'Namespace/',
    'NetworkPolicy/',
    'ResourceQuota/',
    'ServiceAccount/',
    'ConfigMap/',
    'Service/',
    'StatefulSet/postgres',
    'StatefulSet/synapse',
    'Deployment/element',
    'Deployment/coturn',
    'Ingress/',
    'Role/',
    'RoleBinding/',
    'Job/',
  ];
  let last = -1;
  for (const prefix of order) {
    const first = kinds.findIndex((k) => k.startsWith(prefix));
    assert.ok(first > last, `${prefix} comes after what precedes it in ${kinds.join(' ')}`);
    last = kinds.map((k) => k.startsWith(prefix)).lastIndexOf(true);
  }
  assert.ok(kinds.at(-1)?.startsWith('Job/provision-'), 'the provisioning Job is last');
});

test('PRUNABLE_KINDS covers every kind that can disappear, never PVCs or Secrets', () => {
  const prunable = new Set(PRUNABLE_KINDS.map((k) => `${k.apiVersion}/${k.kind}`));
  for (const [, make] of VARIANTS) {
    for (const o of buildDesired(make()).slice(1)) assert.ok(prunable.has(`${o.apiVersion}/${o.kind}`), o.kind);
  }
  for (const never of ['PersistentVolumeClaim', 'Secret', 'SealedSecret', 'Namespace']) {
    assert.equal(
      PRUNABLE_KINDS.some((k) => k.kind === never),
      false,
      never,
    );
  }
});

describe('Synapse', () => {
  const ctx = exampleContext('full.yaml');
  const objects = buildDesired(ctx);
  const sts = find(objects, 'StatefulSet', 'synapse');
  const template = templateOf(sts);
  const synapse = template.spec.containers[0] as Container;

  test('the config has no federation anywhere and secrets only as *_path files', () => {
    const homeserver = parse(data(find(objects, 'ConfigMap', 'synapse-config'))['homeserver.yaml'] ?? '') as Record<
      string,
      unknown
    >;
    const listeners = homeserver.listeners as { type: string; port: number; resources?: { names: string[] }[] }[];
    for (const l of listeners) {
      for (const r of l.resources ?? []) assert.equal(r.names.includes('federation'), false);
    }
    assert.deepEqual(
      listeners.map((l) => [l.type, l.port]),
      [
        ['http', 8008],
        ['metrics', 9000],
        // full.yaml runs the MatrixRTC authoriser: an openid-only listener for it.
        ['http', 8009],
      ],
    );
    assert.deepEqual(listeners[2]?.resources, [{ names: ['openid'], compress: false }]);
    assert.deepEqual(homeserver.federation_domain_whitelist, []);
    assert.deepEqual(homeserver.trusted_key_servers, []);
    assert.equal(homeserver.server_name, 'matrix.ir-0043.example.org');
    assert.equal(homeserver.public_baseurl, 'https://matrix.ir-0043.example.org/');
    assert.equal(homeserver.registration_shared_secret_path, '/secrets/registration_shared_secret');
    assert.deepEqual(homeserver.turn_uris, [
      'turn:turn.ir-0043.example.org:32000?transport=udp',
      'turn:turn.ir-0043.example.org:32000?transport=tcp',
    ]);
    assert.deepEqual(homeserver.alias_creation_rules, [
      { user_id: '@warroom-admin:matrix.ir-0043.example.org', alias: '*', room_id: '*', action: 'allow' },
    ]);
    const db = homeserver.database as { name: string; args: Record<string, unknown> };
    assert.equal(db.name, 'psycopg2');
    assert.deepEqual(
      {
        host: db.args.host,
        port: db.args.port,
        user: db.args.user,
        dbname: db.args.dbname,
        passfile: db.args.passfile,
      },
      { host: 'postgres', port: 5432, user: 'synapse', dbname: 'synapse', passfile: '/run/pgpass/pgpass' },
    );
    assert.ok(synapse.args?.includes('--no-secrets-in-config'));
  });

  test('one replica of uid 991, probes on /health, PVC from the spec, Secret read-only', () => {
    const spec = sts.spec as {
      replicas: number;
      serviceName: string;
      volumeClaimTemplates: { spec: { storageClassName?: string; resources: { requests: { storage: string } } } }[];
    };
    assert.equal(spec.replicas, 1);
    assert.equal(spec.serviceName, 'synapse');
    assert.equal(spec.volumeClaimTemplates[0]?.spec.storageClassName, 'standard');
    assert.equal(spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, '20Gi');
    assert.equal(template.spec.securityContext?.runAsUser, 991);
    assert.equal(template.spec.securityContext?.fsGroup, 991);
    for (const probe of [synapse.startupProbe, synapse.readinessProbe, synapse.livenessProbe]) {
      assert.deepEqual(probe?.httpGet, { path: '/health', port: 8008 });
    }
    assert.deepEqual(synapse.resources, {
      requests: { cpu: '250m', memory: '512Mi' },
      limits: { cpu: '2', memory: '2Gi' },
    });
    const secrets = template.spec.volumes?.find((v) => v.name === 'secrets');
    assert.deepEqual(secrets?.secret, { secretName: 'synapse-secrets', defaultMode: 0o440 });
    assert.deepEqual(
      synapse.volumeMounts?.find((m) => m.name === 'secrets'),
      {
        name: 'secrets',
        mountPath: '/secrets',
        readOnly: true,
      },
    );
    assert.equal(synapse.image, 'registry.example.org/mirror/matrixdotorg/synapse:v1.139.0');
  });

  test('with Postgres, the pgpass file is copied to a private 0600 file before Synapse starts', () => {
    const init = template.spec.initContainers?.[0];
    assert.deepEqual(init?.command, ['install', '-m', '0600', '/run/secrets/postgres/pgpass', '/run/pgpass/pgpass']);
    assert.deepEqual(template.spec.volumes?.find((v) => v.name === 'pgpass')?.emptyDir, {
      medium: 'Memory',
      sizeLimit: '1Mi',
    });
    const sqlite = templateOf(find(buildDesired(exampleContext('minimal.yaml')), 'StatefulSet', 'synapse'));
    assert.equal(sqlite.spec.initContainers, undefined);
  });

  test('a config change changes the pod template (rolls the pod); the same config does not', () => {
    const hash = (c: BuildContext) =>
      templateOf(find(buildDesired(c), 'StatefulSet', 'synapse')).metadata.annotations?.['warroom.dev/config-hash'];
    const before = hash(exampleContext('minimal.yaml'));
    assert.match(before ?? '', /^[0-9a-f]{64}$/);
    assert.equal(hash(exampleContext('minimal.yaml')), before);
    assert.notEqual(hash(exampleContext('minimal.yaml', { calls: { turn: { host: 'turn.example.org' } } })), before);
  });

  test('the Service exposes client and metrics, and the recorder port only when recording', () => {
    const ports = (c: BuildContext) =>
      (find(buildDesired(c), 'Service', 'synapse').spec as { ports: { port: number }[] }).ports.map((p) => p.port);
    assert.deepEqual(ports(exampleContext('minimal.yaml')), [8008, 9000, 9101, 9102]);
    assert.deepEqual(ports(exampleContext('minimal.yaml', { recording: { enabled: false } })), [8008, 9000]);
  });

  test('with recording on, the recorder is a sidecar with its own claim, uid and credentials file', () => {
    const sts = buildSynapseStatefulSet(ctx);
    const spec = templateOf(sts).spec;
    assert.deepEqual(
      spec.containers.map((c) => c.name),
      ['synapse', 'recorder'],
    );
    const [synapse, recorder] = spec.containers;
    assert.deepEqual(recorder?.args, ['recorder']);
    assert.equal(recorder?.image, ctx.images.recorder);
    // Its own uid, and the homeserver container never mounts the transcript's claim.
    assert.equal(recorder?.securityContext?.runAsUser, 65532);
    assert.ok(recorder?.volumeMounts?.some((m) => m.name === 'recorder'));
    assert.equal(
      synapse?.volumeMounts?.some((m) => m.name === 'recorder' || m.name === 'recorder-credentials'),
      false,
    );
    const claims = (sts.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates;
    assert.deepEqual(
      claims.map((c) => c.metadata.name),
      ['data', 'recorder'],
    );
    // The password comes from a mounted file; no env var carries a value that looks like one.
    const env = Object.fromEntries((recorder?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.WARROOM_RECORDER_PASSWORD_FILE, '/run/secrets/warroom-recorder/password');
    assert.equal(env.WARROOM_RECORDER_CONTROL_ROOM, `#control:${ctx.serverName}`);
    assert.deepEqual(JSON.parse(env.WARROOM_RECORDER_CHANNEL ?? '{}').namespace, ctx.namespace);
    assert.deepEqual(checkPodRestricted(spec), []);
  });

  test('with recording off, no recorder container, claim or port', () => {
    const off = exampleContext('minimal.yaml', { recording: { enabled: false } });
    const sts = buildSynapseStatefulSet(off);
    assert.deepEqual(
      templateOf(sts).spec.containers.map((c) => c.name),
      ['synapse'],
    );
    const claims = (sts.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates;
    assert.deepEqual(
      claims.map((c) => c.metadata.name),
      ['data'],
    );
  });
});

describe('Postgres', () => {
  test('only with database: postgres; it mounts just its password, never the pgpass line', () => {
    const sqlite = buildDesired(exampleContext('minimal.yaml'));
    assert.equal(
      sqlite.some((o) => o.metadata.name === 'postgres' && o.kind !== 'ServiceAccount'),
      false,
    );
    const objects = buildDesired(exampleContext('full.yaml'));
    const spec = templateOf(find(objects, 'StatefulSet', 'postgres')).spec;
    const container = spec.containers[0] as Container;
    assert.deepEqual(spec.volumes?.find((v) => v.name === 'credentials')?.secret, {
      secretName: 'postgres-credentials',
      items: [{ key: 'postgres_password', path: 'password' }],
      defaultMode: 0o440,
    });
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.POSTGRES_PASSWORD_FILE, '/run/secrets/postgres/password');
    assert.equal(env.POSTGRES_PASSWORD, undefined);
    assert.match(env.POSTGRES_INITDB_ARGS ?? '', /--locale=C/);
    assert.equal(container.image, 'registry.example.org/mirror/library/postgres:17-alpine');
    assert.deepEqual(
      (find(objects, 'Service', 'postgres').spec as { ports: { port: number }[] }).ports.map((p) => p.port),
      [5432],
    );
  });
});

describe('Element', () => {
  const objects = buildDesired(exampleContext('full.yaml'));

  test('config.json points at our public homeserver only, with no telemetry or integrations', () => {
    const config = JSON.parse(data(find(objects, 'ConfigMap', 'element-config'))['config.json'] ?? '') as Record<
      string,
      unknown
    >;
    assert.deepEqual(config.default_server_config, {
      'm.homeserver': { base_url: 'https://matrix.ir-0043.example.org', server_name: 'matrix.ir-0043.example.org' },
    });
    assert.equal(config.disable_custom_urls, true);
    assert.equal(config.default_federate, false);
    assert.equal(config.permalink_prefix, 'https://chat.ir-0043.example.org');
    for (const absent of ['posthog', 'sentry', 'bug_report_endpoint_url', 'jitsi'])
      assert.equal(absent in config, false);
    assert.equal(config.brand, 'War room ir-2026-0043');
  });

  test('nginx on 8080 as uid 101, with writable emptyDirs exactly where the image writes', () => {
    const spec = templateOf(find(objects, 'Deployment', 'element')).spec;
    const container = spec.containers[0] as Container;
    assert.equal(spec.securityContext?.runAsUser, 101);
    assert.deepEqual(
      container.env?.find((e) => e.name === 'ELEMENT_WEB_PORT'),
      { name: 'ELEMENT_WEB_PORT', value: '8080' },
    );
    const emptyDirs = new Set(spec.volumes?.filter((v) => v.emptyDir).map((v) => v.name));
    const writable = (container.volumeMounts ?? []).filter((m) => emptyDirs.has(m.name)).map((m) => m.mountPath);
    assert.deepEqual(writable.sort(), ['/etc/nginx/conf.d', '/tmp', '/var/cache/nginx']);
    assert.deepEqual(
      container.volumeMounts?.find((m) => m.name === 'config'),
      {
        name: 'config',
        mountPath: '/app/config.json',
        subPath: 'config.json',
        readOnly: true,
      },
    );
    assert.deepEqual(container.readinessProbe?.httpGet, { path: '/config.json', port: 8080 });
  });
});

describe('coturn', () => {
  const ctx = exampleContext('full.yaml');
  const objects = buildDesired(ctx);
  const spec = templateOf(find(objects, 'Deployment', 'coturn')).spec;
  const container = spec.containers[0] as Container;

  test('the secret is appended at start from the mounted file: never in argv, env or the ConfigMap', () => {
    const [shell, flag, script] = container.command ?? [];
    assert.deepEqual([shell, flag], ['/bin/sh', '-c']);
    assert.match(script ?? '', /cat '\/run\/secrets\/turn\/turn_shared_secret'/);
    // turnserver as PID 1 ignores SIGTERM, so the shell stays PID 1, forwards TERM/INT to it, and waits.
    assert.match(script ?? '', /'turnserver' -c '\/run\/coturn\/turnserver.conf' &/);
    assert.match(script ?? '', /trap 'kill -TERM "\$\{child:-\}" 2>\/dev\/null \|\| true' TERM INT/);
    assert.equal(container.args, undefined);
    assert.equal(container.env, undefined);
    const conf = data(find(objects, 'ConfigMap', 'coturn-config'))['turnserver.conf'] ?? '';
    assert.doesNotMatch(conf, /static-auth-secret/);
    assert.match(conf, /^use-auth-secret$/m);
    assert.match(conf, /^realm=matrix\.ir-0043\.example\.org$/m);
    assert.match(conf, /^external-ip=203\.0\.113\.10$/m);
    assert.match(conf, /^min-port=32001$/m);
    assert.match(conf, /^denied-peer-ip=10\.244\.0\.0-10\.244\.255\.255$/m, 'pod CIDR');
    assert.match(conf, /^denied-peer-ip=172\.18\.0\.0-172\.18\.255\.255$/m, 'node CIDR');
    assert.match(conf, /^allowed-peer-ip=203\.0\.113\.10$/m);
    assert.deepEqual(spec.volumes?.find((v) => v.name === 'runtime')?.emptyDir, { medium: 'Memory', sizeLimit: '1Mi' });
    assert.deepEqual(spec.volumes?.find((v) => v.name === 'secret')?.secret?.secretName, 'turn-secret');
  });

  test('drops everything and adds back only NET_BIND_SERVICE', () => {
    assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
    for (const w of workloads(objects)) {
      for (const c of allContainers(templateOf(w).spec)) {
        if (c.name !== 'coturn') assert.equal(c.securityContext?.capabilities?.add, undefined, c.name);
      }
    }
    const mounts = (container.volumeMounts ?? []).map((m) => m.mountPath).sort();
    assert.ok(mounts.includes('/var/tmp') && mounts.includes('/var/lib/coturn') && mounts.includes('/run/coturn'));
  });

  test('NodePort: 3478 UDP+TCP on the first port of the range, every relay port with nodePort == port', () => {
    const svc = find(objects, 'Service', 'coturn').spec as {
      type: string;
      externalIPs: string[];
      externalTrafficPolicy: string;
      ports: { name: string; port: number; protocol: string; nodePort?: number }[];
    };
    assert.equal(svc.type, 'NodePort');
    assert.deepEqual(svc.externalIPs, ['203.0.113.10']);
    assert.equal(svc.externalTrafficPolicy, 'Local');
    assert.deepEqual(
      svc.ports.slice(0, 2).map((p) => [p.port, p.protocol, p.nodePort]),
      [
        [3478, 'UDP', 32000],
        [3478, 'TCP', 32000],
      ],
    );
    const relays = svc.ports.slice(2);
    assert.equal(relays.length, 19);
    for (const [i, p] of relays.entries())
      assert.deepEqual([p.port, p.nodePort, p.protocol], [32001 + i, 32001 + i, 'UDP']);
    assert.ok(svc.ports.every((p) => p.name.length <= 15));
  });

  test('LoadBalancer: no pinned node ports; IPv6 hosts are bracketed in the TURN URIs; no calls, no coturn', () => {
    const lb = exampleContext('full.yaml', {
      calls: {
        turn: { serviceType: 'LoadBalancer', externalIPs: ['2001:db8::7'], relayPorts: { min: 40000, max: 40001 } },
      },
    });
    const svc = find(buildDesired(lb), 'Service', 'coturn').spec as { type: string; ports: { nodePort?: number }[] };
    assert.equal(svc.type, 'LoadBalancer');
    assert.equal(svc.ports.length, 4);
    assert.ok(svc.ports.every((p) => p.nodePort === undefined));
    assert.deepEqual(turnUris(lb), ['turn:[2001:db8::7]:3478?transport=udp', 'turn:[2001:db8::7]:3478?transport=tcp']);
    const off = exampleContext('minimal.yaml', { calls: { enabled: false } });
    assert.equal(
      buildDesired(off).some((o) => o.metadata.labels?.[LABEL_COMPONENT] === 'coturn' && o.kind !== 'ServiceAccount'),
      false,
    );
    assert.deepEqual(turnUris(off), []);
    assert.deepEqual(turnUris(exampleContext('minimal.yaml')), [], 'no host and no external IP: nothing to offer');
  });
});

describe('Ingress', () => {
  type Rule = {
    host: string;
    http: {
      paths: { path: string; pathType: string; backend: { service: { name: string; port: { number: number } } } }[];
    };
  };
  const ingressOf = (c: BuildContext) => {
    const ingress = buildIngress(c);
    assert.ok(ingress);
    return ingress as KubeObject & {
      spec: { ingressClassName?: string; tls?: { hosts: string[]; secretName: string }[]; rules: Rule[] };
    };
  };

  test('Element on its host; on the matrix host only /_matrix and /_synapse/client, never /_synapse/admin', () => {
    const ingress = ingressOf(exampleContext('full.yaml'));
    assert.equal(ingress.spec.ingressClassName, 'nginx');
    const [element, matrix] = ingress.spec.rules;
    assert.equal(element?.host, 'chat.ir-0043.example.org');
    assert.deepEqual(
      element?.http.paths.map((p) => [p.path, p.backend.service.name, p.backend.service.port.number]),
      [['/', 'element', 8080]],
    );
    assert.equal(matrix?.host, 'matrix.ir-0043.example.org');
    assert.deepEqual(
      matrix?.http.paths.map((p) => [p.path, p.pathType, p.backend.service.name, p.backend.service.port.number]),
      [
        ['/_matrix', 'Prefix', 'synapse', 8008],
        ['/_synapse/client', 'Prefix', 'synapse', 8008],
        ['/livekit/jwt', 'Prefix', 'rtc-authoriser', 8090],
      ],
    );
    for (const rule of ingress.spec.rules) {
      for (const p of rule.http.paths) {
        assert.equal(
          '/_synapse/admin'.startsWith(p.path) && rule.host === matrix?.host && p.path !== '/_matrix',
          false,
          p.path,
        );
        assert.equal(p.backend.service.name === 'synapse' && ['/', '/_synapse', '/_synapse/'].includes(p.path), false);
      }
    }
  });

  test('TLS from a ClusterIssuer (generated Secret name) or from an existing Secret', () => {
    const issued = ingressOf(exampleContext('full.yaml'));
    assert.equal(issued.metadata.annotations?.['cert-manager.io/cluster-issuer'], 'offline-ca');
    assert.deepEqual(issued.spec.tls, [
      { hosts: ['chat.ir-0043.example.org', 'matrix.ir-0043.example.org'], secretName: 'warroom-tls' },
    ]);
    const own = ingressOf(
      exampleContext('full.yaml', {
        ingress: { host: 'a.example.org', matrixHost: 'b.example.org', tls: { secretName: 'mine' } },
      }),
    );
    assert.equal(own.metadata.annotations?.['cert-manager.io/cluster-issuer'], undefined);
    assert.deepEqual(own.spec.tls, [{ hosts: ['a.example.org', 'b.example.org'], secretName: 'mine' }]);
    assert.equal(buildIngress(exampleContext('minimal.yaml')), undefined);
  });
});

describe('provisioner Job', () => {
  const ctx = exampleContext('full.yaml');
  const job = buildProvisionerJob(ctx);
  const spec = templateOf(job).spec;
  const container = spec.containers[0] as Container;
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));

  test('runs the operator image as 65532 with the provisioner entrypoint, reaching Synapse in-namespace', () => {
    assert.equal(container.image, ctx.images.operator);
    assert.deepEqual(container.args, ['provisioner']);
    assert.equal(spec.securityContext?.runAsUser, 65532);
    assert.equal(spec.restartPolicy, 'Never');
    assert.equal(job.metadata.labels?.[LABEL_COMPONENT], 'provisioner');
    assert.equal(templateOf(job).metadata.labels[LABEL_COMPONENT], 'provisioner');
    assert.equal(env[PROVISIONER_ENV.homeserverUrl], `http://synapse.${ctx.namespace}.svc:8008`);
    assert.equal(env[PROVISIONER_ENV.serverName], 'matrix.ir-0043.example.org');
    const js = job.spec as { backoffLimit: number; activeDeadlineSeconds: number; ttlSecondsAfterFinished: number };
    assert.ok(js.backoffLimit > 0 && js.activeDeadlineSeconds > 0 && js.ttlSecondsAfterFinished > 0);
  });

  test('participants go in as handles, roles and file paths: no password anywhere in the Job', () => {
    const participants = JSON.parse(env[PROVISIONER_ENV.participants] ?? '') as {
      handle: string;
      role: string;
      passwordFile: string;
    }[];
    assert.deepEqual(
      participants.map((p) => [p.handle, p.role]),
      [
        ['falcon', 'lead'],
        ['owl', 'comms'],
        ['wren', 'scribe'],
        ['heron', 'responder'],
        ['lynx', 'observer'],
      ],
    );
    const projected = spec.volumes?.find((v) => v.name === 'credentials')?.projected?.sources ?? [];
    const files = projected.flatMap((s) =>
      (s.secret?.items ?? []).map((i) => `/var/run/warroom/credentials/${i.path}`),
    );
    for (const p of participants) assert.ok(files.includes(p.passwordFile), p.passwordFile);
    for (const key of ['registrationSecretFile', 'adminPasswordFile', 'recorderPasswordFile'] as const) {
      assert.ok(files.includes(env[PROVISIONER_ENV[key]] ?? ''), key);
    }
    // From the homeserver's Secret, only the registration secret.
    const synapseSource = projected.find((s) => s.secret?.name === 'synapse-secrets');
    assert.deepEqual(
      synapseSource?.secret?.items?.map((i) => i.key),
      ['registration_shared_secret'],
    );
    assert.deepEqual(
      projected.map((s) => s.secret?.name),
      ['synapse-secrets', 'bot-credentials', ...['falcon', 'owl', 'wren', 'heron', 'lynx'].map(participantSecretName)],
    );
  });

  test('named by a hash of what it runs: a participant change makes a new Job, an unrelated change does not', () => {
    assert.match(job.metadata.name, /^provision-[0-9a-f]{10}$/);
    assert.equal(buildProvisionerJob(exampleContext('full.yaml')).metadata.name, job.metadata.name);
    const more = exampleContext('full.yaml', {
      participants: [...(ctx.participants as unknown[]), { handle: 'kestrel', role: 'responder' }],
    });
    assert.notEqual(buildProvisionerJob(more).metadata.name, job.metadata.name);
    const roleChange = exampleContext('full.yaml', {
      participants: ctx.participants.map((p) => (p.handle === 'lynx' ? { ...p, role: 'responder' } : p)),
    });
    assert.notEqual(buildProvisionerJob(roleChange).metadata.name, job.metadata.name);
    const ttlChange = exampleContext('full.yaml', { ttl: '2h' });
    assert.equal(buildProvisionerJob(ttlChange).metadata.name, job.metadata.name);
  });
});

describe('access', () => {
  test('get on exactly the participant Secrets, bound to the spec users and groups', () => {
    const ctx = exampleContext('full.yaml');
    const [role, binding] = buildAccess(ctx);
    assert.equal(role?.kind, 'Role');
    assert.deepEqual(role?.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        verbs: ['get'],
        resourceNames: ['falcon', 'owl', 'wren', 'heron', 'lynx'].map(participantSecretName),
      },
    ]);
    assert.equal(binding?.kind, 'RoleBinding');
    assert.deepEqual(binding?.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ACCESS_ROLE });
    assert.deepEqual(binding?.subjects, [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'oidc:soc-oncall@example.org' },
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'soc-leads' },
    ]);
    assert.deepEqual(buildAccess(exampleContext('minimal.yaml')), []);
  });
});

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** metav1.LabelSelector semantics: an empty selector matches everything. */
function matches(selector: Selector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const value = labels[e.key];
    const ok =
      e.operator === 'In'
        ? value !== undefined && (e.values ?? []).includes(value)
        : e.operator === 'NotIn'
          ? value === undefined || !(e.values ?? []).includes(value)
          : e.operator === 'Exists'
            ? value !== undefined
            : value === undefined;
    if (!ok) return false;
  }
  return true;
}

test('MatrixRTC behind the Ingress: the authoriser on its prefix, the SFU signalling in an Ingress of its own', () => {
  const full = exampleContext('full.yaml');
  const sfu = buildSfuIngress(full);
  assert.ok(sfu, 'full.yaml has calls.sfu');
  const spec = sfu.spec as {
    rules: { host: string; http: { paths: { path: string; backend: { service: { name: string } } }[] } }[];
  };
  assert.equal(spec.rules[0]?.host, 'matrix.ir-0043.example.org');
  assert.equal(spec.rules[0]?.http.paths[0]?.backend.service.name, 'livekit');
  assert.equal(sfu.metadata.annotations?.['nginx.ingress.kubernetes.io/rewrite-target'], '/$2');
  assert.equal(buildSfuIngress(exampleContext('minimal.yaml')), undefined, 'no Ingress, no SFU route');
  assert.equal(buildSfuIngress(exampleContext('full.yaml', { calls: { enabled: false } })), undefined);
});
