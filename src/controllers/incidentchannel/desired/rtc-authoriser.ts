import type { KubeObject } from '../../../kube/objects.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';
import { LIVEKIT_SERVICE } from './livekit.ts';
import { childMeta } from './object-meta.ts';
import type { PodTemplate, ResourceRequirements } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { PROVISIONER_UID } from './provisioner-job.ts';
import { recorderAnswersMembership } from './recorder.ts';
import { LIVEKIT_SECRET_KEYS, SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';

/**
 * The MatrixRTC authoriser (MSC4195): the operator's own image, `rtc-authoriser` entrypoint (src/rtc/main.ts). It
 * validates OpenID tokens on Synapse's openid-only listener, asks the recorder whether the caller is joined to the room
 * (the recorder is joined to every room the operator creates), creates the call's room on the SFU and answers a
 * short-lived LiveKit token. It is reachable from the internet, so it holds no Matrix credential at all: an admin
 * password there would hand the whole homeserver to whoever breaks it. Its only secret is the LiveKit API key pair,
 * as files of a mounted Secret.
 */

/** The contract with the entrypoint (RtcAuthoriserEnv in src/rtc/main.ts). */
export const RTC_AUTHORISER_ENV = {
  serverName: 'WARROOM_SERVER_NAME',
  listenPort: 'WARROOM_RTC_LISTEN_PORT',
  sfuUrl: 'WARROOM_RTC_SFU_URL',
  sfuApiUrl: 'WARROOM_RTC_SFU_API_URL',
  openIdUrl: 'WARROOM_RTC_OPENID_URL',
  membershipUrl: 'WARROOM_RTC_MEMBERSHIP_URL',
  apiKeyFile: 'WARROOM_LIVEKIT_API_KEY_FILE',
  apiSecretFile: 'WARROOM_LIVEKIT_API_SECRET_FILE',
} as const;

export const RTC_AUTHORISER_SERVICE = 'rtc-authoriser';
const LIVEKIT_DIR = '/run/secrets/livekit';

/**
 * Measured: ~102 MiB RSS idle running src/*.ts (main.ts loads only the entrypoint's own modules; 214 MiB was with all
 * of them). The image runs dist/, without Node's TypeScript stripper (~19 MiB less), so this leaves headroom.
 */
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
            ...(recorderAnswersMembership(ctx)
              ? [
                  {
                    name: RTC_AUTHORISER_ENV.membershipUrl,
                    value: `http://synapse.${ctx.namespace}.svc:${PORTS.recorderMembership}`,
                  },
                ]
              : []),
            { name: RTC_AUTHORISER_ENV.apiKeyFile, value: `${LIVEKIT_DIR}/${LIVEKIT_SECRET_KEYS.apiKey}` },
            { name: RTC_AUTHORISER_ENV.apiSecretFile, value: `${LIVEKIT_DIR}/${LIVEKIT_SECRET_KEYS.apiSecret}` },
          ],
          ports: [{ name: 'http', containerPort: PORTS.rtcAuthoriser, protocol: 'TCP' }],
          volumeMounts: [{ name: 'livekit', mountPath: LIVEKIT_DIR, readOnly: true }],
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
