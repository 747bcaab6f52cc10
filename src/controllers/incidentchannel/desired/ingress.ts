import type { KubeObject } from '../../../kube/objects.ts';
import type { BuildContext } from './context.ts';
import { childMeta } from './object-meta.ts';
import { PORTS } from './ports.ts';

/**
 * One Ingress, two hosts: Element on `host`, the homeserver's client API on `matrixHost`. Only the client paths are
 * routed; `/_synapse/admin` (served by the same Synapse listener) is never exposed, so the admin API stays reachable
 * only in-namespace, by the provisioner.
 */

/** The TLS Secret cert-manager fills when the spec names a ClusterIssuer instead of an existing Secret. */
export const GENERATED_TLS_SECRET = 'warroom-tls';

/** Client-server API and media (`/_matrix`), and Synapse's own client pages (SSO, password reset, consent). */
export const HOMESERVER_PUBLIC_PATHS = ['/_matrix', '/_synapse/client'] as const;

export function buildIngress(ctx: BuildContext): KubeObject | undefined {
  const ingress = ctx.ingress;
  if (!ingress) return undefined;
  const backend = (service: string, port: number) => ({ service: { name: service, port: { number: port } } });
  const tls = ingress.tls;
  const annotations: Record<string, string> = {
    // Element uploads go straight to Synapse; its max_upload_size is 20M, the nginx default only 1m.
    'nginx.ingress.kubernetes.io/proxy-body-size': '20m',
    ...(tls?.clusterIssuer ? { 'cert-manager.io/cluster-issuer': tls.clusterIssuer } : {}),
  };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...childMeta(ctx, 'warroom', 'ingress'), annotations },
    spec: {
      ...(ingress.className ? { ingressClassName: ingress.className } : {}),
      ...(tls
        ? { tls: [{ hosts: [ingress.host, ingress.matrixHost], secretName: tls.secretName ?? GENERATED_TLS_SECRET }] }
        : {}),
      rules: [
        {
          host: ingress.host,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('element', PORTS.element) }] },
        },
        {
          host: ingress.matrixHost,
          http: {
            paths: HOMESERVER_PUBLIC_PATHS.map((path) => ({
              path,
              pathType: 'Prefix',
              backend: backend('synapse', PORTS.synapseClient),
            })),
          },
        },
      ],
    },
  };
}
