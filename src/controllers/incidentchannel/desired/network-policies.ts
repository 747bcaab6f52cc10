import type { KubeObject } from '../../../kube/objects.ts';
import { DENIED_PEER_CIDRS } from '../../../matrix/config/coturn.ts';
import { channelLabels, LABEL_COMPONENT } from '../names.ts';
import type { BuildContext } from './context.ts';
import { COMPONENTS, type Component, PORTS } from './ports.ts';
import { recorderAnswersMembership } from './recorder.ts';

/**
 * Default-deny in both directions, then the exact allow-list of the architecture: nothing in a war room reaches back
 * into the cluster, and Synapse has no egress at all (no federation, previews or push) unless it needs its database.
 * Applied before any workload exists.
 */
export function buildNetworkPolicies(ctx: BuildContext): KubeObject[] {
  const policies: KubeObject[] = [
    policy(ctx, 'default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy(ctx, 'allow-dns', {
      podSelector: podsNotIn(dnsLessComponents(ctx)),
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ctx.network.dnsNamespace } },
              podSelector: { matchLabels: ctx.network.dnsPodLabels },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
    policy(ctx, 'allow-ingress-controller', {
      podSelector: podsIn([COMPONENTS.synapse, COMPONENTS.element]),
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: ctx.network.ingressNamespaceLabels } }],
          ports: [tcp(PORTS.synapseClient), tcp(PORTS.element)],
        },
      ],
    }),
    policy(ctx, 'allow-prometheus', {
      podSelector: podsIn([COMPONENTS.synapse]),
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: ctx.network.monitoringNamespaceLabels } }],
          ports: [tcp(PORTS.synapseMetrics), tcp(PORTS.recorder)],
        },
      ],
    }),
    policy(ctx, 'allow-operator-to-recorder', {
      podSelector: podsIn([COMPONENTS.synapse]),
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ctx.network.operatorNamespace } } },
          ],
          ports: [tcp(PORTS.recorder), tcp(PORTS.recorderControl)],
        },
      ],
    }),
    policy(ctx, 'allow-provisioner-to-synapse', {
      podSelector: podsIn([COMPONENTS.synapse]),
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: podsIn([COMPONENTS.provisioner]) }], ports: [tcp(PORTS.synapseClient)] }],
    }),
    policy(ctx, 'provisioner-egress', {
      podSelector: podsIn([COMPONENTS.provisioner]),
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: podsIn([COMPONENTS.synapse]) }], ports: [tcp(PORTS.synapseClient)] }],
    }),
  ];

  if (ctx.database === 'postgres') {
    policies.push(
      policy(ctx, 'synapse-to-postgres', {
        podSelector: podsIn([COMPONENTS.synapse]),
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: podsIn([COMPONENTS.postgres]) }], ports: [tcp(PORTS.postgres)] }],
      }),
      policy(ctx, 'postgres-from-synapse', {
        podSelector: podsIn([COMPONENTS.postgres]),
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: podsIn([COMPONENTS.synapse]) }], ports: [tcp(PORTS.postgres)] }],
      }),
    );
  }

  if (ctx.calls.enabled) {
    const relay = { protocol: 'UDP', port: ctx.calls.relayPortMin, endPort: ctx.calls.relayPortMax };
    policies.push(
      policy(ctx, 'turn-ingress', {
        podSelector: podsIn([COMPONENTS.coturn]),
        policyTypes: ['Ingress'],
        ingress: [{ ports: [{ protocol: 'UDP', port: PORTS.turn }, tcp(PORTS.turn), relay] }],
      }),
      policy(ctx, 'turn-egress-internet-only', {
        podSelector: podsIn([COMPONENTS.coturn]),
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: deniedRelayCidrs(ctx) } }] }],
      }),
    );
  }
  if (ctx.calls.enabled && ctx.calls.sfu) policies.push(...matrixRtcPolicies(ctx, ctx.calls.sfu));
  return policies;
}

/**
 * MatrixRTC: the SFU takes media from anywhere on its two ports and signalling from the ingress controller and the
 * authoriser; it reaches nothing in the cluster (media goes back to clients, outside). The authoriser is reached
 * from the ingress controller only, and reaches Synapse's openid listener, the recorder's membership port (when the
 * war room records) and the SFU's RoomService, nothing else: not Synapse's client API.
 */
function matrixRtcPolicies(ctx: BuildContext, sfu: { tcpPort: number; udpPort: number }): KubeObject[] {
  const synapsePorts = [
    tcp(PORTS.synapseOpenId),
    ...(recorderAnswersMembership(ctx) ? [tcp(PORTS.recorderMembership)] : []),
  ];
  const fromIngressController = { namespaceSelector: { matchLabels: ctx.network.ingressNamespaceLabels } };
  return [
    policy(ctx, 'sfu-media-ingress', {
      podSelector: podsIn([COMPONENTS.livekit]),
      policyTypes: ['Ingress'],
      ingress: [{ ports: [tcp(sfu.tcpPort), { protocol: 'UDP', port: sfu.udpPort }] }],
    }),
    policy(ctx, 'sfu-signalling-ingress', {
      podSelector: podsIn([COMPONENTS.livekit]),
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [fromIngressController, { podSelector: podsIn([COMPONENTS.rtcAuthoriser]) }],
          ports: [tcp(PORTS.livekitHttp)],
        },
      ],
    }),
    policy(ctx, 'sfu-egress-internet-only', {
      podSelector: podsIn([COMPONENTS.livekit]),
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: deniedRelayCidrs(ctx) } }] }],
    }),
    policy(ctx, 'rtc-authoriser-ingress', {
      podSelector: podsIn([COMPONENTS.rtcAuthoriser]),
      policyTypes: ['Ingress'],
      ingress: [{ from: [fromIngressController], ports: [tcp(PORTS.rtcAuthoriser)] }],
    }),
    policy(ctx, 'rtc-authoriser-egress', {
      podSelector: podsIn([COMPONENTS.rtcAuthoriser]),
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ podSelector: podsIn([COMPONENTS.synapse]) }],
          ports: synapsePorts,
        },
        { to: [{ podSelector: podsIn([COMPONENTS.livekit]) }], ports: [tcp(PORTS.livekitHttp)] },
      ],
    }),
    policy(ctx, 'synapse-from-rtc-authoriser', {
      podSelector: podsIn([COMPONENTS.synapse]),
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: podsIn([COMPONENTS.rtcAuthoriser]) }],
          ports: synapsePorts,
        },
      ],
    }),
  ];
}

/**
 * The same ranges coturn's own `denied-peer-ip` list refuses (private, loopback, link-local with the cloud metadata
 * endpoint, CGNAT, reserved...): the NetworkPolicy enforces at the network what coturn enforces in-process. Only the
 * IPv4 half fits an ipBlock under 0.0.0.0/0.
 */
export const PRIVATE_IPV4_CIDRS = DENIED_PEER_CIDRS.filter((c) => !c.includes(':'));

function deniedRelayCidrs(ctx: BuildContext): string[] {
  const cluster = [...ctx.network.podCidrs, ...ctx.network.serviceCidrs, ...ctx.network.nodeCidrs].filter(
    (c) => !c.includes(':'),
  );
  return [...new Set([...PRIVATE_IPV4_CIDRS, ...cluster])];
}

/** Synapse resolves nothing when it has no database to reach; the others need DNS only for in-namespace names. */
function dnsLessComponents(ctx: BuildContext): Component[] {
  return ctx.database === 'postgres' ? [COMPONENTS.element] : [COMPONENTS.synapse, COMPONENTS.element];
}

function policy(ctx: BuildContext, name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: ctx.namespace, labels: channelLabels(ctx.channel.name) },
    spec,
  };
}

const tcp = (port: number) => ({ protocol: 'TCP', port });
const podsIn = (components: Component[]) => ({
  matchExpressions: [{ key: LABEL_COMPONENT, operator: 'In', values: components }],
});
const podsNotIn = (components: Component[]) => ({
  matchExpressions: [{ key: LABEL_COMPONENT, operator: 'NotIn', values: components }],
});
