/**
 * Everything a builder may read, resolved once per reconcile. Builders are pure functions of this: no clock, no I/O,
 * no randomness, so the same context always yields byte-identical objects (and SSA writes nothing when idle).
 */
export interface ChannelRef {
  name: string;
  uid: string;
}

export interface ClusterNetwork {
  /** Pod, service and node CIDRs: coturn must never relay into them. */
  podCidrs: string[];
  serviceCidrs: string[];
  nodeCidrs: string[];
  /** Where cluster DNS runs (for the DNS egress rule). */
  dnsNamespace: string;
  dnsPodLabels: Record<string, string>;
  /** Namespace labels of the ingress controller and of Prometheus (who may reach us). */
  ingressNamespaceLabels: Record<string, string>;
  monitoringNamespaceLabels: Record<string, string>;
  /** The operator's own namespace: it reaches the recorder to seal and export the transcript. */
  operatorNamespace: string;
}

export interface CallsSettings {
  enabled: boolean;
  relayPortMin: number;
  relayPortMax: number;
}

export interface BuildContext {
  channel: ChannelRef;
  namespace: string;
  database: 'sqlite' | 'postgres';
  calls: CallsSettings;
  network: ClusterNetwork;
}
