import { SECRET_KEYS } from '../../../crypto/secret-material.ts';
import { RECORDER_ENV } from '../../../recorder/config.ts';
import { RECORDER_HANDLE } from './accounts.ts';
import type { BuildContext } from './context.ts';
import type { Container, Volume } from './pod-types.ts';
import { PORTS } from './ports.ts';
import { SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext } from './security.ts';

/**
 * The recorder: a sidecar in the Synapse pod (it reaches the homeserver on loopback, so Synapse keeps no egress and
 * needs no extra ingress rule), running the operator's image with the `recorder` entrypoint. It keeps the transcript
 * on a volume of its own that the Synapse container never mounts, under a uid of its own, so a compromised
 * homeserver process cannot rewrite the evidence.
 */

/** The operator image's numeric user: not Synapse's 991, so the two containers don't share file ownership. */
export const RECORDER_UID = 65532;
export const RECORDER_DATA_DIR = '/var/lib/warroom-recorder';
export const RECORDER_CLAIM = 'recorder';
const CREDENTIALS_DIR = '/run/secrets/warroom-recorder';

/**
 * The call authoriser asks the recorder who is joined to a room (it holds no Matrix credential of its own): only in a
 * war room with an SFU that records. The recorder's listener, its Service port, the authoriser's URL and the
 * NetworkPolicy ports all follow this one answer.
 */
export function recorderAnswersMembership(ctx: BuildContext): boolean {
  return ctx.calls.enabled && ctx.calls.sfu !== undefined && ctx.recording.enabled;
}

export function buildRecorderSidecar(ctx: BuildContext): { container: Container; volumes: Volume[] } {
  const health = { httpGet: { path: '/healthz', port: PORTS.recorder } };
  const callsAuthoriser = recorderAnswersMembership(ctx);
  const container: Container = {
    name: 'recorder',
    image: ctx.images.recorder,
    args: ['recorder'],
    env: [
      { name: RECORDER_ENV.homeserverUrl, value: `http://127.0.0.1:${PORTS.synapseClient}` },
      { name: RECORDER_ENV.user, value: RECORDER_HANDLE },
      { name: RECORDER_ENV.serverName, value: ctx.serverName },
      { name: RECORDER_ENV.passwordFile, value: `${CREDENTIALS_DIR}/password` },
      { name: RECORDER_ENV.dataDir, value: RECORDER_DATA_DIR },
      { name: RECORDER_ENV.listen, value: `0.0.0.0:${PORTS.recorder}` },
      { name: RECORDER_ENV.controlListen, value: `0.0.0.0:${PORTS.recorderControl}` },
      ...(callsAuthoriser
        ? [{ name: RECORDER_ENV.membershipListen, value: `0.0.0.0:${PORTS.recorderMembership}` }]
        : []),
      { name: RECORDER_ENV.controlRoom, value: `#control:${ctx.serverName}` },
      {
        name: RECORDER_ENV.channel,
        value: JSON.stringify({
          name: ctx.channel.name,
          uid: ctx.channel.uid,
          caseId: ctx.caseId,
          namespace: ctx.namespace,
        }),
      },
      { name: RECORDER_ENV.logLevel, value: 'info' },
    ],
    ports: [
      { name: 'recorder', containerPort: PORTS.recorder, protocol: 'TCP' },
      { name: 'recorder-ctl', containerPort: PORTS.recorderControl, protocol: 'TCP' },
      ...(callsAuthoriser
        ? [{ name: 'rec-members', containerPort: PORTS.recorderMembership, protocol: 'TCP' as const }]
        : []),
    ],
    volumeMounts: [
      { name: RECORDER_CLAIM, mountPath: RECORDER_DATA_DIR },
      { name: 'recorder-credentials', mountPath: CREDENTIALS_DIR, readOnly: true },
      { name: 'recorder-tmp', mountPath: '/tmp' },
    ],
    resources: ctx.resources.recorder,
    securityContext: { ...restrictedContainerSecurityContext(), runAsUser: RECORDER_UID, runAsGroup: RECORDER_UID },
    // Ready = serving. Not "logged in": its account is registered by the provisioning Job, which reaches Synapse only
    // through the Service, which needs this pod Ready; gating on login would deadlock the first start.
    readinessProbe: { ...health, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    livenessProbe: { ...health, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 4 },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const volumes: Volume[] = [
    {
      name: 'recorder-credentials',
      secret: {
        secretName: SECRET_NAMES.bots,
        items: [{ key: SECRET_KEYS.recorderPassword, path: 'password' }],
        defaultMode: 0o440,
      },
    },
    { name: 'recorder-tmp', emptyDir: { sizeLimit: '256Mi' } },
  ];
  return { container, volumes };
}
