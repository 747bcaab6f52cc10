import { SECRET_KEYS } from '../../../crypto/secret-material.ts';
import type { KubeObject } from '../../../kube/objects.ts';
import { channelLabels } from '../names.ts';
import { ADMIN_BOT_HANDLE } from './accounts.ts';
import type { BuildContext } from './context.ts';
import { homeserverServiceUrl } from './endpoints.ts';
import { LIVEKIT_SERVICE } from './livekit.ts';
import { childMeta } from './object-meta.ts';
import type { PodTemplate, ResourceRequirements } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { PROVISIONER_UID } from './provisioner-job.ts';
import { LIVEKIT_SECRET_KEYS, SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';

/**
 * The MatrixRTC authoriser (MSC4195): the operator's own image, `rtc-authoriser` entrypoint (src/rtc/main.ts). It
 * validates OpenID tokens on Synapse's openid-only listener, checks room membership as the provisioning bot (joined to
 * every room the operator creates; a dedicated non-admin witness would be narrower, see the report), creates the
 * call's room on the SFU and answers a short-lived LiveKit token. Credentials only as files of mounted Secrets.
 */

/** The contract with the entrypoint (RtcAuthoriserEnv in src/rtc/main.ts). */
export const RTC_AUTHORISER_ENV = {
  serverName: 'WARROOM_SERVER_NAME',
  listenPort: 'WARROOM_RTC_LISTEN_PORT',
  sfuUrl: 'WARROOM_RTC_SFU_URL',
  sfuApiUrl: 'WARROOM_RTC_SFU_API_URL',
  openIdUrl: 'WARROOM_RTC_OPENID_URL',
  homeserverUrl: 'WARROOM_HOMESERVER_URL',
  witnessUser: 'WARROOM_RTC_WITNESS_USER',
  witnessPasswordFile: 'WARROOM_RTC_WITNESS_PASSWORD_FILE',
  apiKeyFile: 'WARROOM_LIVEKIT_API_KEY_FILE',
  apiSecretFile: 'WARROOM_LIVEKIT_API_SECRET_FILE',
} as const;

export const RTC_AUTHORISER_SERVICE = 'rtc-authoriser';
const LIVEKIT_DIR = '/run/secrets/livekit';
const WITNESS_DIR = '/run/secrets/witness';

/** Measured: ~102 MiB RSS idle (src/main.ts loads only the entrypoint's own modules); 214 MiB was with all of them. */
export const RTC_AUTHORISER_DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: '20m', memory: '128Mi' },
  limits: { cpu: '500m', memory: '256Mi' },
};

export function buildRtcAuthoriserService(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(ctx, RTC_AUTHORISER_SERVICE, COMPONENTS.rtcAuthoriser),
    spec: {
      type: 'ClusterIP',
      selector: channelLabels(ctx.channel.name, COMPONENTS.rtcAuthoriser),
      ports: [{ name: 'http', port: PORTS.rtcAuthoriser, targetPort: PORTS.rtcAuthoriser, protocol: 'TCP' }],
    },
  };
}

export function buildRtcAuthoriserDeployment(ctx: BuildContext): KubeObject {
  const sfu = ctx.calls.sfu;
  if (!sfu) throw new Error('the authoriser builder needs calls.sfu');
  const labels = channelLabels(ctx.channel.name, COMPONENTS.rtcAuthoriser);
  const health = { httpGet: { path: '/healthz', port: PORTS.rtcAuthoriser } };
  const template: PodTemplate = {
    metadata: { labels },
    spec: {
      serviceAccountName: COMPONENTS.rtcAuthoriser,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(PROVISIONER_UID),
      containers: [
        {
          name: 'rtc-authoriser',
          image: ctx.images.operator,
          args: ['rtc-authoriser'],
          env: [
            { name: RTC_AUTHORISER_ENV.serverName, value: ctx.serverName },
            { name: RTC_AUTHORISER_ENV.listenPort, value: String(PORTS.rtcAuthoriser) },
            { name: RTC_AUTHORISER_ENV.sfuUrl, value: sfu.sfuUrl },
            {
              name: RTC_AUTHORISER_ENV.sfuApiUrl,
              value: `http://${LIVEKIT_SERVICE}.${ctx.namespace}.svc:${PORTS.livekitHttp}`,
            },
            { name: RTC_AUTHORISER_ENV.openIdUrl, value: `http://synapse.${ctx.namespace}.svc:${PORTS.synapseOpenId}` },
            { name: RTC_AUTHORISER_ENV.homeserverUrl, value: homeserverServiceUrl(ctx) },
            { name: RTC_AUTHORISER_ENV.witnessUser, value: ADMIN_BOT_HANDLE },
            {
              name: RTC_AUTHORISER_ENV.witnessPasswordFile,
              value: `${WITNESS_DIR}/${SECRET_KEYS.adminBotPassword}`,
            },
            { name: RTC_AUTHORISER_ENV.apiKeyFile, value: `${LIVEKIT_DIR}/${LIVEKIT_SECRET_KEYS.apiKey}` },
            { name: RTC_AUTHORISER_ENV.apiSecretFile, value: `${LIVEKIT_DIR}/${LIVEKIT_SECRET_KEYS.apiSecret}` },
          ],
          ports: [{ name: 'http', containerPort: PORTS.rtcAuthoriser, protocol: 'TCP' }],
          volumeMounts: [
            { name: 'livekit', mountPath: LIVEKIT_DIR, readOnly: true },
            { name: 'witness', mountPath: WITNESS_DIR, readOnly: true },
          ],
          resources: RTC_AUTHORISER_DEFAULT_RESOURCES,
          securityContext: restrictedContainerSecurityContext(),
          readinessProbe: { ...health, periodSeconds: 10 },
          livenessProbe: { ...health, periodSeconds: 30, failureThreshold: 4 },
        },
      ],
      volumes: [
        {
          name: 'livekit',
          secret: {
            secretName: SECRET_NAMES.livekit,
            items: [
              { key: LIVEKIT_SECRET_KEYS.apiKey, path: LIVEKIT_SECRET_KEYS.apiKey },
              { key: LIVEKIT_SECRET_KEYS.apiSecret, path: LIVEKIT_SECRET_KEYS.apiSecret },
            ],
            defaultMode: 0o440,
          },
        },
        {
          name: 'witness',
          secret: {
            secretName: SECRET_NAMES.bots,
            items: [{ key: SECRET_KEYS.adminBotPassword, path: SECRET_KEYS.adminBotPassword }],
            defaultMode: 0o440,
          },
        },
      ],
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(ctx, RTC_AUTHORISER_SERVICE, COMPONENTS.rtcAuthoriser),
    spec: { replicas: 1, selector: { matchLabels: labels }, template },
  };
}
