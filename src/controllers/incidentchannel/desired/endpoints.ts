import { isIPv6 } from 'node:net';
import type { BuildContext } from './context.ts';
import { PORTS } from './ports.ts';

/** The homeserver as in-namespace clients (provisioner, recorder) reach it: the Service, never the Ingress. */
export function homeserverServiceUrl(ctx: BuildContext): string {
  return `http://synapse.${ctx.namespace}.svc:${PORTS.synapseClient}`;
}

/** Where clients reach coturn: the configured host, else the first external IP; none = no relay offered. */
export function turnHost(ctx: BuildContext): string | undefined {
  if (!ctx.calls.enabled) return undefined;
  const host = ctx.calls.host ?? ctx.calls.externalIPs[0];
  if (host === undefined) return undefined;
  return isIPv6(host) ? `[${host}]` : host;
}

/** The TURN URIs Synapse hands out from /voip/turnServer (and the status shows): UDP first, TCP as a fallback. */
export function turnUris(ctx: BuildContext): string[] {
  const host = turnHost(ctx);
  if (host === undefined) return [];
  const port = ctx.calls.listenNodePort ?? PORTS.turn;
  return ['udp', 'tcp'].map((transport) => `turn:${host}:${port}?transport=${transport}`);
}
