import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  type ChannelState,
  channelState as stateOf,
  toChannel,
} from '../../../src/controllers/incidentchannel/channel.ts';
import {
  type BuildContext,
  buildContext,
  type OperatorSettings,
} from '../../../src/controllers/incidentchannel/context-from-spec.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';

/** A kind-like cluster: what the operator's flags would say. */
export const SETTINGS: OperatorSettings = {
  namespacePrefix: 'wr',
  network: {
    podCidrs: ['10.244.0.0/16'],
    serviceCidrs: ['10.96.0.0/16'],
    nodeCidrs: ['172.18.0.0/16'],
    dnsNamespace: 'kube-system',
    dnsPodLabels: { 'k8s-app': 'kube-dns' },
    ingressNamespaceLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' },
    monitoringNamespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
    operatorNamespace: 'warroom-system',
  },
};

export const UID = '5e0c4c1e-1111-2222-3333-444455556666';

/**
 * Mirror overrides as an air-gapped SOC writes them (full.yaml shows them commented out so it runs as is): the
 * builders' tests keep covering per-channel images, tags and digests.
 */
export const MIRROR_IMAGES = {
  synapse: 'registry.example.org/mirror/matrixdotorg/synapse:v1.139.0',
  element: 'registry.example.org/mirror/vectorim/element-web:v1.12.0',
  coturn: 'registry.example.org/mirror/coturn/coturn:4.7.0',
  recorder: `registry.example.org/warroom/warroom@sha256:${'0123456789abcdef'.repeat(4)}`,
  postgres: 'registry.example.org/mirror/library/postgres:17-alpine',
};

/** An example manifest from examples/, as the API server would hand it over (full.yaml with MIRROR_IMAGES). */
export function exampleObject(file: 'full.yaml' | 'minimal.yaml' | 'kind.yaml', uid = UID): KubeObject {
  const doc = parse(readFileSync(new URL(`../../../examples/${file}`, import.meta.url), 'utf8')) as KubeObject;
  const spec = file === 'full.yaml' ? { ...(doc.spec as object), images: MIRROR_IMAGES } : doc.spec;
  return { ...doc, metadata: { ...doc.metadata, uid }, spec };
}

/** Parses a manifest through the real API schema (defaults applied), exactly as the reconciler does. */
export function channelState(obj: KubeObject): ChannelState {
  const channel = toChannel(obj);
  const state = stateOf(channel);
  if (!state) throw new Error(channel.parsed.ok ? 'unparsed' : channel.parsed.error);
  return state;
}

/** The context of an example, optionally with a changed spec (a shallow patch over the YAML's spec). */
export function exampleContext(
  file: 'full.yaml' | 'minimal.yaml' | 'kind.yaml',
  specPatch: Record<string, unknown> = {},
  settings: Partial<OperatorSettings> = {},
): BuildContext {
  const obj = exampleObject(file);
  const spec = { ...(obj.spec as Record<string, unknown>), ...specPatch };
  return buildContext(channelState({ ...obj, spec }), { ...SETTINGS, ...settings });
}

type Workload = KubeObject & { spec: { template: { metadata: { labels: Record<string, string> }; spec: never } } };

/** Deployments, StatefulSets and Jobs: everything that carries a pod template. */
export function workloads(objects: KubeObject[]): Workload[] {
  return objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)) as Workload[];
}

export function find(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}
