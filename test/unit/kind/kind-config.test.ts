// kind-config.yaml against what the operator really builds: every port kind forwards from the laptop is bound on
// 127.0.0.1, and the coturn Service the operator makes for examples/kind.yaml uses exactly the mapped ports.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { buildContext } from '../../../src/controllers/incidentchannel/context-from-spec.ts';
import { buildCoturnService } from '../../../src/controllers/incidentchannel/desired/coturn.ts';
import { turnUris } from '../../../src/controllers/incidentchannel/desired/endpoints.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';
import { channelState, SETTINGS, UID } from '../controllers/channel-fixtures.ts';

interface PortMapping {
  containerPort: number;
  hostPort: number;
  listenAddress?: string;
  protocol?: string;
}
interface KindConfig {
  networking: { podSubnet: string; serviceSubnet: string; disableDefaultCNI?: boolean };
  nodes: { role: string; extraPortMappings?: PortMapping[] }[];
}

const read = (file: string) => parse(readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8'));
const config = read('kind-config.yaml') as KindConfig;
const mappings = config.nodes.flatMap((n) => n.extraPortMappings ?? []);

describe('kind-config.yaml', () => {
  test('every host port is bound on 127.0.0.1 only', () => {
    assert.ok(mappings.length > 0);
    for (const m of mappings) assert.equal(m.listenAddress, '127.0.0.1', `${m.hostPort}/${m.protocol} on 127.0.0.1`);
  });

  test('the cluster ranges are the ones the chart is given (the operator denies TURN relays every cluster address)', () => {
    assert.equal(config.networking.podSubnet, SETTINGS.network.podCidrs[0]);
    assert.equal(config.networking.serviceSubnet, SETTINGS.network.serviceCidrs[0]);
    // A laptop keeps kindnet: it is what enforces the war room's NetworkPolicies there.
    assert.notEqual(config.networking.disableDefaultCNI, true);
  });

  test("examples/kind.yaml: coturn's NodePorts are exactly the mapped TURN ports, and the turn: URIs name them", () => {
    const channel = channelState({ ...(read('examples/kind.yaml') as KubeObject), metadata: { name: 'x', uid: UID } });
    const ctx = buildContext(channel, SETTINGS);
    const service = buildCoturnService(ctx) as unknown as {
      spec: { ports: { nodePort?: number; protocol: string; targetPort: number; port: number }[] };
    };
    const key = (port: number, protocol: string) => `${port}/${protocol}`;
    const nodePorts = service.spec.ports.map((p) => {
      assert.ok(p.nodePort, `port ${p.port} has a NodePort`);
      return key(p.nodePort, p.protocol);
    });
    const forwarded = mappings
      .filter((m) => m.containerPort >= 30000)
      .map((m) => {
        // The host port is the container port: coturn advertises relay addresses with its own port numbers.
        assert.equal(m.hostPort, m.containerPort);
        return key(m.containerPort, m.protocol ?? 'TCP');
      });
    assert.deepEqual([...nodePorts].sort(), [...forwarded].sort());
    assert.deepEqual(turnUris(ctx), ['turn:127.0.0.1:32000?transport=udp', 'turn:127.0.0.1:32000?transport=tcp']);
  });
});
