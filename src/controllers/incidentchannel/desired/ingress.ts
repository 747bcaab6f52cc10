import type { KubeObject } from '../../../kube/objects.ts';
import type { BuildContext } from './context.ts';
import { childMeta } from './object-meta.ts';
import { PORTS, RTC_PATHS } from './ports.ts';

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
            paths: [
              ...HOMESERVER_PUBLIC_PATHS.map((path) => ({
                path,
                pathType: 'Prefix',
                backend: backend('synapse', PORTS.synapseClient),
              })),
              // MatrixRTC: the authoriser serves its API under this prefix itself (no rewrite).
              ...(ctx.calls.enabled && ctx.calls.sfu
                ? [
                    {
                      path: RTC_PATHS.authoriser,
                      pathType: 'Prefix',
                      backend: backend('rtc-authoriser', PORTS.rtcAuthoriser),
                    },
                  ]
                : []),
            ],
          },
        },
      ],
    },
  };
}

/**
 * LiveKit's signalling WebSocket on the homeserver host, under RTC_PATHS.sfu. LiveKit serves it at `/`, so the prefix
 * is stripped: a rewrite is ingress-controller specific (this is ingress-nginx's), hence an Ingress of its own that
 * touches no other route.
 */
export function buildSfuIngress(ctx: BuildContext): KubeObject | undefined {
  const ingress = ctx.ingress;
  if (!ingress || !ctx.calls.enabled || !ctx.calls.sfu) return undefined;
  const tls = ingress.tls;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      ...childMeta(ctx, 'livekit', 'livekit'),
      annotations: {
        'nginx.ingress.kubernetes.io/use-regex': 'true',
        'nginx.ingress.kubernetes.io/rewrite-target': '/$2',
        'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
        ...(tls?.clusterIssuer ? { 'cert-manager.io/cluster-issuer': tls.clusterIssuer } : {}),
      },
    },
    spec: {
      ...(ingress.className ? { ingressClassName: ingress.className } : {}),
      ...(tls ? { tls: [{ hosts: [ingress.matrixHost], secretName: tls.secretName ?? GENERATED_TLS_SECRET }] } : {}),
      rules: [
        {
          host: ingress.matrixHost,
          http: {
            paths: [
              {
                path: `${RTC_PATHS.sfu}(/|$)(.*)`,
                pathType: 'ImplementationSpecific',
                backend: { service: { name: 'livekit', port: { number: PORTS.livekitHttp } } },
              },
            ],
          },
        },
      ],
    },
  };
}
