import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { buildDesired } from '../../../src/controllers/incidentchannel/desired/index.ts';
import { buildNetworkPolicies } from '../../../src/controllers/incidentchannel/desired/network-policies.ts';
import type { PodSpec } from '../../../src/controllers/incidentchannel/desired/pod-types.ts';
import { secretPlan } from '../../../src/controllers/incidentchannel/desired/secrets.ts';
import { checkPodRestricted } from '../../../src/controllers/incidentchannel/desired/security.ts';
import { LABEL_COMPONENT } from '../../../src/controllers/incidentchannel/names.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';
import { exampleContext, find } from './channel-fixtures.ts';

/** Components that run or serve something (every component has a token-less ServiceAccount, calls or not). */
const components = (objects: KubeObject[]) =>
  new Set(
    objects
      .filter((o) => o.kind !== 'ServiceAccount')
      .map((o) => (o.metadata.labels as Record<string, string> | undefined)?.[LABEL_COMPONENT]),
  );
const configData = (objects: KubeObject[], name: string) =>
  (find(objects, 'ConfigMap', name) as unknown as { data: Record<string, string> }).data;
const podSpec = (o: KubeObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const policySpec = (objects: KubeObject[], name: string) => {
  const p = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name);
  assert.ok(p, `NetworkPolicy ${name}`);
  return p.spec as Record<string, unknown>;
};

interface LiveKitYaml {
  room: unknown;
  rtc: { node_ip?: string; stun_servers?: unknown; turn_servers: { host: string; port: number; secret: string }[] };
}

describe('MatrixRTC in the desired state', () => {
  test('a war room without calls, or with calls but no sfu block, has no SFU, no authoriser, no openid listener', () => {
    for (const ctx of [
      exampleContext('minimal.yaml'),
      exampleContext('minimal.yaml', { calls: { enabled: false, sfu: { tcpPort: 30781, udpPort: 30782 } } }),
    ]) {
      const objects = buildDesired(ctx);
      const present = components(objects);
      assert.equal(present.has('livekit'), false);
      assert.equal(present.has('rtc-authoriser'), false);
      assert.equal(
        objects.some((o) => o.kind === 'NetworkPolicy' && String(o.metadata.name).startsWith('sfu-')),
        false,
      );
      const homeserver = parse(configData(objects, 'synapse-config')['homeserver.yaml'] ?? '') as Record<
        string,
        unknown
      >;
      assert.equal(homeserver.matrix_rtc, undefined);
      assert.equal(homeserver.experimental_features, undefined);
      assert.equal(
        secretPlan(ctx).some((e) => e.name === 'livekit-credentials'),
        false,
      );
      const element = JSON.parse(configData(objects, 'element-config')['config.json'] ?? '{}') as Record<
        string,
        unknown
      >;
      assert.equal(element.element_call, undefined);
      assert.equal((element.setting_defaults as Record<string, boolean>)['UIFeature.widgets'], false);
    }
  });

  const ctx = exampleContext('full.yaml');
  const objects = buildDesired(ctx);

  test('the SFU: labelled livekit, PSA restricted, rooms only through the authoriser, media exposed like coturn', () => {
    const deployment = find(objects, 'Deployment', 'livekit');
    assert.equal((deployment.metadata.labels as Record<string, string>)[LABEL_COMPONENT], 'livekit');
    assert.deepEqual(checkPodRestricted(podSpec(deployment)), []);
    const config = parse(configData(objects, 'livekit-config')['livekit.yaml'] ?? '') as LiveKitYaml;
    assert.deepEqual(config.room, { auto_create: false });
    assert.equal(config.rtc.node_ip, '203.0.113.10');
    assert.equal(config.rtc.stun_servers, undefined);
    assert.equal(config.rtc.turn_servers[0]?.host, 'turn.ir-0043.example.org');
    assert.equal(config.rtc.turn_servers[0]?.port, 32000);
    assert.equal(config.rtc.turn_servers[0]?.secret, '__WARROOM_TURN_SECRET__');
    const media = find(objects, 'Service', 'livekit-media').spec as {
      type: string;
      ports: { port: number; nodePort?: number; protocol: string }[];
    };
    assert.equal(media.type, 'NodePort');
    assert.deepEqual(
      media.ports.map((p) => [p.protocol, p.port, p.nodePort]),
      [
        ['TCP', 32020, 32020],
        ['UDP', 32021, 32021],
      ],
    );
    assert.equal((find(objects, 'Service', 'livekit').spec as { type: string }).type, 'ClusterIP');
  });

  test('the quota leaves room for the SFU media Service: its node ports and load balancer', () => {
    const hard = (c: typeof ctx) =>
      (find(buildDesired(c), 'ResourceQuota', 'warroom').spec as { hard: Record<string, string> }).hard;
    const withSfu = hard(ctx);
    const withoutSfu = hard(
      exampleContext('full.yaml', { calls: { turn: { relayPorts: { min: 32000, max: 32019 } } } }),
    );
    // Twice what is used (room for one charge a create cut short leaves behind): the SFU's two node ports, its Service.
    assert.equal(Number(withSfu['services.nodeports']) - Number(withoutSfu['services.nodeports']), 2 * 2);
    assert.equal(withSfu['services.loadbalancers'], String(2 * 2));
    assert.equal(withoutSfu['services.loadbalancers'], String(2 * 1));
  });

  test('the authoriser: the operator image, labelled rtc-authoriser, no Matrix credential, the LiveKit keys as files only', () => {
    const deployment = find(objects, 'Deployment', 'rtc-authoriser');
    assert.equal((deployment.metadata.labels as Record<string, string>)[LABEL_COMPONENT], 'rtc-authoriser');
    const spec = podSpec(deployment);
    assert.deepEqual(checkPodRestricted(spec), []);
    const container = spec.containers[0];
    assert.equal(container?.image, ctx.images.operator);
    assert.deepEqual(container?.args, ['rtc-authoriser']);
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.WARROOM_RTC_OPENID_URL, `http://synapse.${ctx.namespace}.svc:8009`);
    assert.equal(env.WARROOM_RTC_SFU_URL, 'wss://matrix.ir-0043.example.org/livekit/sfu');
    // Membership is the recorder's answer (it is joined to every room); the internet-facing pod holds no Matrix login.
    assert.equal(env.WARROOM_RTC_MEMBERSHIP_URL, `http://synapse.${ctx.namespace}.svc:9103`);
    for (const [name, value] of Object.entries(env)) {
      if (/SECRET|PASSWORD|KEY/.test(name)) assert.match(String(value), /^\/run\/secrets\//, `${name} is a file path`);
      assert.doesNotMatch(name, /PASSWORD|WITNESS|HOMESERVER/, `${name}: no Matrix credential or client API`);
    }
    assert.deepEqual(
      spec.volumes?.map((v) => (v as { secret?: { secretName: string } }).secret?.secretName),
      ['livekit-credentials'],
      'the only Secret it mounts is the LiveKit key pair',
    );
    // The recorder serves the membership question on a port of its own, in the Synapse Service.
    const synapse = find(objects, 'StatefulSet', 'synapse');
    const recorder = podSpec(synapse).containers.find((c) => c.name === 'recorder');
    const recorderEnv = Object.fromEntries((recorder?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(recorderEnv.WARROOM_RECORDER_MEMBERSHIP_LISTEN, '0.0.0.0:9103');
    const service = find(objects, 'Service', 'synapse').spec as { ports: { name: string; port: number }[] };
    assert.ok(service.ports.some((p) => p.name === 'rec-members' && p.port === 9103));
  });

  test('a war room with calls that does not record: the authoriser has no membership source, Synapse no port for it', () => {
    const unrecorded = buildDesired(exampleContext('full.yaml', { recording: { enabled: false } }));
    const env = podSpec(find(unrecorded, 'Deployment', 'rtc-authoriser')).containers[0]?.env ?? [];
    assert.equal(
      env.find((e) => e.name === 'WARROOM_RTC_MEMBERSHIP_URL'),
      undefined,
    );
    const service = find(unrecorded, 'Service', 'synapse').spec as { ports: { port: number }[] };
    assert.ok(!service.ports.some((p) => p.port === 9103));
    const egress = policySpec(unrecorded, 'rtc-authoriser-egress') as { egress: { ports: { port: number }[] }[] };
    assert.deepEqual(
      egress.egress[0]?.ports.map((p) => p.port),
      [8009],
    );
  });

  test('NetworkPolicies: media from anywhere, nothing in the cluster for the SFU; the authoriser reaches only Synapse and the SFU', () => {
    const policies = buildNetworkPolicies(ctx);
    const mediaIngress = policySpec(policies, 'sfu-media-ingress') as { ingress: { from?: unknown; ports: unknown }[] };
    assert.equal(mediaIngress.ingress[0]?.from, undefined, 'from anywhere');
    assert.deepEqual(mediaIngress.ingress[0]?.ports, [
      { protocol: 'TCP', port: 32020 },
      { protocol: 'UDP', port: 32021 },
    ]);
    const sfuEgress = policySpec(policies, 'sfu-egress-internet-only') as {
      egress: { to: { ipBlock: { cidr: string; except: string[] } }[] }[];
    };
    const except = sfuEgress.egress[0]?.to[0]?.ipBlock.except ?? [];
    for (const cidr of [...ctx.network.podCidrs, ...ctx.network.serviceCidrs, '10.0.0.0/8', '169.254.0.0/16']) {
      assert.ok(except.includes(cidr), `SFU egress excludes ${cidr}`);
    }
    const authEgress = policySpec(policies, 'rtc-authoriser-egress') as {
      egress: { to: { podSelector: { matchExpressions: { values: string[] }[] } }[]; ports: { port: number }[] }[];
    };
    assert.deepEqual(
      authEgress.egress.map((rule) => [
        rule.to[0]?.podSelector.matchExpressions[0]?.values,
        rule.ports.map((p) => p.port),
      ]),
      [
        // openid and the recorder's membership port; never Synapse's client API.
        [['synapse'], [8009, 9103]],
        [['livekit'], [7880]],
      ],
    );
    const authIngress = policySpec(policies, 'rtc-authoriser-ingress') as {
      ingress: { from: { namespaceSelector: unknown }[] }[];
    };
    assert.deepEqual(authIngress.ingress[0]?.from, [
      { namespaceSelector: { matchLabels: ctx.network.ingressNamespaceLabels } },
    ]);
  });

  test('Synapse and Element: the focus announced both ways, delayed events, rate limits, Element Call bundled', () => {
    const homeserver = parse(configData(objects, 'synapse-config')['homeserver.yaml'] ?? '') as Record<string, unknown>;
    const focus = [{ type: 'livekit', livekit_service_url: 'https://matrix.ir-0043.example.org/livekit/jwt' }];
    assert.deepEqual(homeserver.extra_well_known_client_content, { 'org.matrix.msc4143.rtc_foci': focus });
    assert.deepEqual(homeserver.matrix_rtc, { transports: focus });
    assert.deepEqual(homeserver.experimental_features, {
      msc3266_enabled: true,
      msc4222_enabled: true,
      msc4143_enabled: true,
    });
    assert.equal(homeserver.max_event_delay_duration, '24h');
    assert.deepEqual(homeserver.rc_delayed_event_mgmt, { per_second: 1, burst_count: 20 });
    const element = JSON.parse(configData(objects, 'element-config')['config.json'] ?? '{}') as {
      element_call: Record<string, unknown>;
      features: Record<string, boolean>;
      setting_defaults: Record<string, boolean>;
      integrations_ui_url: unknown;
      posthog?: unknown;
    };
    assert.equal(element.element_call.use_exclusively, false, 'legacy calls stay available');
    assert.equal(element.element_call.url, undefined, 'the bundled Element Call, never a hosted one');
    assert.equal(element.features.feature_group_calls, true);
    // Element Web hides the call buttons in rooms of more than two members when widgets are off.
    assert.equal(element.setting_defaults['UIFeature.widgets'], true);
    assert.equal(element.setting_defaults['UIFeature.voip'], true);
    assert.equal(element.integrations_ui_url, null, 'still no integration manager');
    assert.equal(element.posthog, undefined);
    assert.doesNotMatch(JSON.stringify(element), /call\.element\.io/);
  });
});
