/** Ports and component names shared by the workload builders and the NetworkPolicies that must match them. */
export const COMPONENTS = {
  synapse: 'synapse',
  element: 'element',
  coturn: 'coturn',
  provisioner: 'provisioner',
  postgres: 'postgres',
} as const;
export type Component = (typeof COMPONENTS)[keyof typeof COMPONENTS];

export const PORTS = {
  synapseClient: 8008,
  synapseMetrics: 9000,
  /** The recorder sidecar's HTTP port: seal/export for the operator, metrics for Prometheus. */
  recorder: 9101,
  element: 8080,
  turn: 3478,
  postgres: 5432,
} as const;
