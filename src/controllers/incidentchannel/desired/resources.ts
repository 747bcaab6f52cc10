import { compareQuantities } from '../../../api/v1alpha1/quantity.ts';
import type { ChannelResources } from './context.ts';
import type { ResourceList, ResourceRequirements } from './pod-types.ts';

/**
 * Sized for a handful of responders on one homeserver, and together well inside the namespace ResourceQuota
 * (limits: 8 CPU, 16Gi), so a spec that only overrides one component never trips the quota.
 */
export const DEFAULT_RESOURCES: Readonly<ChannelResources> = {
  synapse: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } },
  element: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
  coturn: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
  recorder: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
  postgres: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
  provisioner: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
};

type SpecResources = Partial<Record<keyof ChannelResources, ResourceRequirements | undefined>>;

/**
 * The spec's values over the defaults, field by field. A request raised above a DEFAULT limit lifts that limit
 * to match (the apiserver rejects request > limit); a limit the user set is kept, and admission already refused
 * a spec whose own request exceeds its own limit.
 */
export function resolveResources(spec: SpecResources | undefined): ChannelResources {
  const out = {} as ChannelResources;
  for (const component of Object.keys(DEFAULT_RESOURCES) as (keyof ChannelResources)[]) {
    out[component] = mergeRequirements(DEFAULT_RESOURCES[component], spec?.[component]);
  }
  return out;
}

function mergeRequirements(defaults: ResourceRequirements, override: ResourceRequirements | undefined) {
  const requests: ResourceList = { ...defaults.requests, ...definedOnly(override?.requests) };
  const limits: ResourceList = { ...defaults.limits, ...definedOnly(override?.limits) };
  for (const resource of ['cpu', 'memory'] as const) {
    const request = requests[resource];
    const limit = limits[resource];
    const limitIsDefault = override?.limits?.[resource] === undefined;
    if (request && limit && limitIsDefault && compareQuantities(request, limit) > 0) limits[resource] = request;
  }
  return { requests, limits };
}

function definedOnly(list: ResourceList | undefined): ResourceList {
  const out: ResourceList = {};
  if (list?.cpu !== undefined) out.cpu = list.cpu;
  if (list?.memory !== undefined) out.memory = list.memory;
  return out;
}
