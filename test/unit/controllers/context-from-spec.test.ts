import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildContext,
  DEFAULT_IMAGES,
  defaultRelayPorts,
  imagesWithoutDigest,
  isRoutableExternalIp,
} from '../../../src/controllers/incidentchannel/context-from-spec.ts';
import { buildCoturnService, turnserverParams } from '../../../src/controllers/incidentchannel/desired/coturn.ts';
import { DEFAULT_RESOURCES } from '../../../src/controllers/incidentchannel/desired/resources.ts';
import { namespaceName } from '../../../src/controllers/incidentchannel/names.ts';
import { channelState, exampleContext, exampleObject, SETTINGS, UID } from './channel-fixtures.ts';

const DIGEST = `@sha256:${'ab'.repeat(32)}`;

test('without an Ingress: an unresolvable server name under the namespace, URLs for a localhost port-forward', () => {
  const ctx = exampleContext('minimal.yaml');
  const namespace = namespaceName('ir-2026-0042', UID);
  assert.equal(ctx.namespace, namespace);
  assert.equal(ctx.serverName, `${namespace}.warroom.invalid`);
  assert.equal(ctx.publicBaseUrl, 'http://localhost:8008/');
  assert.equal(ctx.elementUrl, 'http://localhost:8080');
  assert.equal(ctx.ingress, undefined);
});

test('with an Ingress: matrixHost is the server name and TLS makes the URLs https', () => {
  const ctx = exampleContext('full.yaml');
  assert.equal(ctx.serverName, 'matrix.ir-0043.example.org');
  assert.equal(ctx.publicBaseUrl, 'https://matrix.ir-0043.example.org/');
  assert.equal(ctx.elementUrl, 'https://chat.ir-0043.example.org');
  assert.deepEqual(ctx.ingress, {
    className: 'nginx',
    host: 'chat.ir-0043.example.org',
    matrixHost: 'matrix.ir-0043.example.org',
    tls: { clusterIssuer: 'offline-ca' },
  });
  const plain = exampleContext('full.yaml', {
    ingress: { host: 'chat.example.org', matrixHost: 'matrix.example.org' },
  });
  assert.equal(plain.publicBaseUrl, 'http://matrix.example.org/');
});

test('the spec is resolved with its defaults: roles, calls, storage, recording, database, access', () => {
  const min = exampleContext('minimal.yaml');
  assert.deepEqual(min.participants, [
    { handle: 'falcon', role: 'lead' },
    { handle: 'heron', role: 'responder' },
  ]);
  const relay = defaultRelayPorts(UID);
  assert.deepEqual(min.calls, {
    enabled: true,
    // NodePort: TURN listens on the first port of the channel's block and relays on the other 19.
    listenNodePort: relay.min,
    relayPortMin: relay.min + 1,
    relayPortMax: relay.max,
    serviceType: 'NodePort',
    externalIPs: [],
    serviceExternalIPs: [],
  });
  assert.deepEqual(min.storage, { size: '5Gi' });
  assert.deepEqual(min.recording, { enabled: true });
  assert.equal(min.database, 'sqlite');
  assert.deepEqual(min.access, { users: [], groups: [] });
  assert.equal(min.secretsMode, 'sealed');

  const full = exampleContext('full.yaml');
  assert.deepEqual(full.calls, {
    enabled: true,
    listenNodePort: 32000,
    relayPortMin: 32001,
    relayPortMax: 32019,
    serviceType: 'NodePort',
    externalIPs: ['203.0.113.10'],
    serviceExternalIPs: ['203.0.113.10'],
    host: 'turn.ir-0043.example.org',
    // MatrixRTC on the homeserver's public host (the Ingress routes /livekit/*), media advertised on the node IP.
    sfu: {
      tcpPort: 32020,
      udpPort: 32021,
      nodeIp: '203.0.113.10',
      authoriserUrl: 'https://matrix.ir-0043.example.org/livekit/jwt',
      sfuUrl: 'wss://matrix.ir-0043.example.org/livekit/sfu',
    },
  });
  assert.equal(min.calls.sfu, undefined, 'no sfu block: legacy calls only');
  // Without an Ingress, like the rest of the war room: port-forwards on localhost.
  assert.deepEqual(exampleContext('minimal.yaml', { calls: { sfu: { tcpPort: 30781, udpPort: 30782 } } }).calls.sfu, {
    tcpPort: 30781,
    udpPort: 30782,
    authoriserUrl: 'http://localhost:8090',
    sfuUrl: 'ws://localhost:7880',
  });
  assert.deepEqual(full.storage, { className: 'standard', size: '20Gi' });
  assert.equal(full.database, 'postgres');
  assert.deepEqual(full.access, { users: ['oidc:soc-oncall@example.org'], groups: ['soc-leads'] });
  assert.equal(exampleContext('minimal.yaml', {}, { secretsMode: 'plain' }).secretsMode, 'plain');
});

test('default relay ports: 10 NodePorts per channel, a block picked by its uid, stable and spread out', () => {
  const blocks = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const { min, max } = defaultRelayPorts(`uid-${i}`);
    assert.equal(max - min + 1, 10);
    assert.ok(min >= 30000 && max <= 32767, `${min}-${max}`);
    assert.equal((min - 30000) % 10, 0, 'aligned blocks never partly overlap');
    blocks.add(min);
  }
  assert.ok(blocks.size > 60, `only ${blocks.size} distinct blocks for 200 channels`);
  assert.deepEqual(defaultRelayPorts('uid-1'), defaultRelayPorts('uid-1'));
  const explicit = exampleContext('full.yaml');
  assert.deepEqual(
    [explicit.calls.listenNodePort, explicit.calls.relayPortMin, explicit.calls.relayPortMax],
    [32000, 32001, 32019],
  );
});

test('images: spec overrides win, then the operator settings, then the pinned defaults', () => {
  const min = exampleContext('minimal.yaml');
  assert.deepEqual(min.images, { ...DEFAULT_IMAGES, recorder: DEFAULT_IMAGES.operator });
  assert.equal(DEFAULT_IMAGES.synapse, 'docker.io/matrixdotorg/synapse:v1.163.2');
  assert.equal(DEFAULT_IMAGES.element, 'docker.io/vectorim/element-web:v1.11.100');
  assert.equal(DEFAULT_IMAGES.coturn, 'docker.io/coturn/coturn:4.6.1');
  assert.equal(DEFAULT_IMAGES.postgres, 'docker.io/library/postgres:16');
  assert.equal(DEFAULT_IMAGES.operator, 'ghcr.io/warroom-dev/warroom:0.1.0');

  const mirrored = exampleContext('minimal.yaml', {}, { images: { operator: `mirror.example/warroom${DIGEST}` } });
  assert.equal(mirrored.images.operator, `mirror.example/warroom${DIGEST}`);
  assert.equal(mirrored.images.recorder, `mirror.example/warroom${DIGEST}`, 'the recorder is the operator image');
  assert.equal(mirrored.images.synapse, DEFAULT_IMAGES.synapse);

  const full = exampleContext('full.yaml');
  assert.equal(full.images.synapse, 'registry.example.org/mirror/matrixdotorg/synapse:v1.139.0');
  assert.equal(full.images.postgres, 'registry.example.org/mirror/library/postgres:17-alpine');
  assert.match(full.images.recorder, /@sha256:0123/);
  assert.equal(full.images.operator, DEFAULT_IMAGES.operator, 'the spec cannot replace the operator image');
});

test('imagesWithoutDigest lists only the tag-only images the channel actually runs', () => {
  const min = exampleContext('minimal.yaml');
  assert.deepEqual(
    imagesWithoutDigest(min),
    [DEFAULT_IMAGES.coturn, DEFAULT_IMAGES.element, DEFAULT_IMAGES.operator, DEFAULT_IMAGES.synapse].sort(),
  );
  const noCalls = exampleContext('minimal.yaml', { calls: { enabled: false } });
  assert.equal(imagesWithoutDigest(noCalls).includes(DEFAULT_IMAGES.coturn), false);

  const full = exampleContext('full.yaml');
  assert.ok(imagesWithoutDigest(full).includes('registry.example.org/mirror/library/postgres:17-alpine'));
  assert.equal(
    imagesWithoutDigest(full).some((i) => i.includes('@sha256:')),
    false,
  );

  const pinned = exampleContext(
    'minimal.yaml',
    {
      images: {
        synapse: `r.example/synapse${DIGEST}`,
        element: `r.example/element:v1${DIGEST}`,
        coturn: `r.example/coturn${DIGEST}`,
      },
    },
    { images: { operator: `r.example/warroom${DIGEST}` } },
  );
  assert.deepEqual(imagesWithoutDigest(pinned), []);
});

test('resources: defaults fill every container; a request above a default limit lifts that limit', () => {
  const min = exampleContext('minimal.yaml');
  assert.deepEqual(min.resources, DEFAULT_RESOURCES);
  const full = exampleContext('full.yaml');
  assert.deepEqual(full.resources.synapse, {
    requests: { cpu: '250m', memory: '512Mi' },
    limits: { cpu: '2', memory: '2Gi' },
  });
  assert.deepEqual(full.resources.provisioner, DEFAULT_RESOURCES.provisioner);

  const big = exampleContext('minimal.yaml', { resources: { synapse: { requests: { cpu: '3', memory: '4Gi' } } } });
  assert.deepEqual(big.resources.synapse, {
    requests: { cpu: '3', memory: '4Gi' },
    limits: { cpu: '3', memory: '4Gi' },
  });
  const onlyLimit = exampleContext('minimal.yaml', { resources: { element: { limits: { memory: '256Mi' } } } });
  assert.deepEqual(onlyLimit.resources.element, {
    requests: { cpu: '10m', memory: '32Mi' },
    limits: { cpu: '200m', memory: '256Mi' },
  });
});

test('the context is a pure function of the channel and the settings', () => {
  const channel = channelState(exampleObject('full.yaml'));
  assert.deepEqual(buildContext(channel, SETTINGS), buildContext(channel, SETTINGS));
  assert.equal(JSON.stringify(buildContext(channel, SETTINGS)), JSON.stringify(buildContext(channel, SETTINGS)));
});

test('relay port blocks: stable per channel, and never overlapping a block another channel holds', async () => {
  const { allocateRelayPorts } = await import('../../../src/controllers/incidentchannel/context-from-spec.ts');
  const a = allocateRelayPorts('uid-a');
  assert.deepEqual(allocateRelayPorts('uid-a'), a, 'stable');
  assert.equal(a.max - a.min + 1, 10);
  const moved = allocateRelayPorts('uid-a', [a]);
  assert.ok(moved.min > a.max || moved.max < a.min, 'skips a taken block');
  // 200 channels allocated one after another never collide.
  const taken: { min: number; max: number }[] = [];
  for (let i = 0; i < 130; i++) taken.push(allocateRelayPorts(`uid-${i}`, taken));
  for (const [i, x] of taken.entries()) {
    for (const y of taken.slice(i + 1)) assert.ok(x.max < y.min || y.max < x.min, 'no overlap');
  }
  const full = Array.from({ length: 138 }, (_, i) => ({ min: 30000 + i * 20, max: 30019 + i * 20 }));
  assert.throws(() => allocateRelayPorts('uid-z', full), /relayPorts/);
});

test('external IPs: advertised as given; a Service and coturn’s allowed peers get only those the apiserver accepts', () => {
  for (const ip of ['127.0.0.1', '127.9.9.9', '0.0.0.0', '169.254.1.1', '224.0.0.5', '::1', '::', 'fe80::1', 'ff02::2'])
    assert.equal(isRoutableExternalIp(ip), false, ip);
  for (const ip of ['203.0.113.10', '10.1.2.3', '192.168.1.1', '2001:db8::1', '224.0.1.1'])
    assert.equal(isRoutableExternalIp(ip), true, ip);

  // kind: the laptop reaches TURN on 127.0.0.1 through kind's port mapping. The apiserver refuses 127.0.0.1 in a
  // Service ("may not be in the loopback range"), and coturn must never relay to its own loopback.
  const kind = exampleContext('kind.yaml');
  assert.deepEqual(kind.calls.externalIPs, ['127.0.0.1']);
  const kindService = buildCoturnService(kind) as unknown as { spec: { externalIPs?: string[] } };
  assert.equal(kindService.spec.externalIPs, undefined);
  assert.equal(turnserverParams(kind).externalIp, '127.0.0.1', 'still advertised');
  assert.deepEqual(turnserverParams(kind).allowedPeerCidrs, []);

  const full = exampleContext('full.yaml');
  const fullService = buildCoturnService(full) as unknown as { spec: { externalIPs?: string[] } };
  assert.deepEqual(fullService.spec.externalIPs, ['203.0.113.10']);
  assert.deepEqual(turnserverParams(full).allowedPeerCidrs, ['203.0.113.10']);
});
