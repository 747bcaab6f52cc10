import type { ChannelState } from './channel.ts';
import type { BuildContext, ClusterNetwork } from './desired/context.ts';
import { namespaceName } from './names.ts';

export type { BuildContext };

/** Operator-wide settings that shape every war room (from flags/env, see src/config.ts). */
export interface OperatorSettings {
  namespacePrefix: string;
  network: ClusterNetwork;
}

/** Resolves one channel's spec against the operator settings into what the pure builders read. */
export function buildContext(channel: ChannelState, settings: OperatorSettings): BuildContext {
  const calls = channel.spec.calls;
  const relay = calls?.turn?.relayPorts;
  return {
    channel: { name: channel.name, uid: channel.uid },
    namespace: namespaceName(channel.spec.caseId, channel.uid, settings.namespacePrefix),
    database: channel.spec.database ?? 'sqlite',
    calls: {
      enabled: calls?.enabled ?? true,
      relayPortMin: relay?.min ?? 32000,
      relayPortMax: relay?.max ?? 32019,
    },
    network: settings.network,
  };
}
