import type { KubeObject } from '../../../kube/objects.ts';
import { type ElementConfigParams, renderElementConfig } from '../../../matrix/config/element.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';
import { ANNOTATION_CONFIG_HASH, childMeta, configHash } from './object-meta.ts';
import type { PodTemplate } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';

/**
 * Element web: static files behind the image's nginx, pointed at our homeserver only.
 *
 * What the image (nginx:alpine-slim based, USER nginx, non-root since v1.11.90) writes at start, so what must be a
 * writable emptyDir under a read-only root filesystem:
 *   - /etc/nginx/conf.d: the nginx entrypoint renders /etc/nginx/templates/default.conf.template there (envsubst of
 *     ELEMENT_WEB_PORT); the emptyDir also hides the stock default.conf, which would listen on port 80;
 *   - /tmp: nginx's pid file (the image moves it to /tmp/nginx.pid) and /tmp/element-web-config, where
 *     18-load-element-modules.sh copies /app/config*.json;
 *   - /var/cache/nginx: nginx's client-body and proxy temp directories.
 * /var/run is not needed (the pid file moved). config.json is mounted over /app/config.json with subPath, which
 * never sees ConfigMap updates: the config-hash annotation rolls the pod instead.
 */

/** `nginx` in the nginx:alpine images. */
export const ELEMENT_UID = 101;
export const ELEMENT_CONFIG_MAP = 'element-config';
const CONFIG_FILE = 'config.json';

export function elementConfigParams(ctx: BuildContext): ElementConfigParams {
  return {
    homeserverBaseUrl: ctx.publicBaseUrl,
    serverName: ctx.serverName,
    elementUrl: ctx.elementUrl,
    // The case id, not the title: the brand shows in the browser tab, and titles can say what was compromised.
    brand: `War room ${ctx.caseId}`,
    elementCall: ctx.calls.enabled && ctx.calls.sfu !== undefined,
  };
}

function elementConfigData(ctx: BuildContext): Record<string, string> {
  return { [CONFIG_FILE]: `${JSON.stringify(renderElementConfig(elementConfigParams(ctx)), null, 2)}\n` };
}

export function buildElementConfigMap(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(ctx, ELEMENT_CONFIG_MAP, COMPONENTS.element),
    data: elementConfigData(ctx),
  };
}

export function buildElementService(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(ctx, 'element', COMPONENTS.element),
    spec: {
      type: 'ClusterIP',
      selector: channelLabels(ctx.channel.name, COMPONENTS.element),
      ports: [{ name: 'http', port: PORTS.element, targetPort: PORTS.element, protocol: 'TCP' }],
    },
  };
}

export function buildElementDeployment(ctx: BuildContext): KubeObject {
  const labels = channelLabels(ctx.channel.name, COMPONENTS.element);
  const served = { httpGet: { path: '/config.json', port: PORTS.element } };
  const template: PodTemplate = {
    metadata: { labels, annotations: { [ANNOTATION_CONFIG_HASH]: configHash(elementConfigData(ctx)) } },
    spec: {
      serviceAccountName: COMPONENTS.element,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(ELEMENT_UID),
      containers: [
        {
          name: 'element',
          image: ctx.images.element,
          env: [
            // Unprivileged: the image's default port 80 cannot be bound without NET_BIND_SERVICE.
            { name: 'ELEMENT_WEB_PORT', value: String(PORTS.element) },
            { name: 'NGINX_ENTRYPOINT_QUIET_LOGS', value: '1' },
          ],
          ports: [{ name: 'http', containerPort: PORTS.element, protocol: 'TCP' }],
          volumeMounts: [
            { name: 'config', mountPath: `/app/${CONFIG_FILE}`, subPath: CONFIG_FILE, readOnly: true },
            { name: 'nginx-conf', mountPath: '/etc/nginx/conf.d' },
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'nginx-cache', mountPath: '/var/cache/nginx' },
          ],
          resources: ctx.resources.element,
          securityContext: restrictedContainerSecurityContext(),
          readinessProbe: { ...served, periodSeconds: 10 },
          livenessProbe: { ...served, periodSeconds: 30, failureThreshold: 4 },
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: ELEMENT_CONFIG_MAP, defaultMode: 0o444 } },
        { name: 'nginx-conf', emptyDir: { sizeLimit: '1Mi' } },
        { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
        { name: 'nginx-cache', emptyDir: { sizeLimit: '64Mi' } },
      ],
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(ctx, 'element', COMPONENTS.element),
    spec: { replicas: 1, selector: { matchLabels: labels }, template },
  };
}
