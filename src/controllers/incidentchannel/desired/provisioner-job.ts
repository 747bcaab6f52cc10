import { createHash } from 'node:crypto';
import { participantPasswordKey, SECRET_KEYS } from '../../../crypto/secret-material.ts';
import type { KubeObject } from '../../../kube/objects.ts';
import { DEFAULT_ROOMS } from '../../../matrix/provisioner.ts';
import { channelLabels } from '../names.ts';
import { ADMIN_BOT_HANDLE, RECORDER_HANDLE } from './accounts.ts';
import type { BuildContext } from './context.ts';
import { homeserverServiceUrl } from './endpoints.ts';
import { childMeta } from './object-meta.ts';
import type { PodTemplate, VolumeProjection } from './pod-types.ts';
import { COMPONENTS } from './ports.ts';
import { participantSecretName, SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';

/**
 * The provisioning run: the operator's image with the `provisioner` entrypoint registers the accounts and creates
 * the rooms (src/matrix/provisioner.ts, idempotent). A Job's pod template is immutable, so the Job is named after a
 * hash of its whole spec: a participant change (or any other change to what it runs) makes a NEW Job, and the prune
 * step deletes the old one. Passwords reach it only as files of a projected Secret volume, never as env values.
 */

/** The distroless user of the operator image. */
export const PROVISIONER_UID = 65532;
export const CREDENTIALS_DIR = '/var/run/warroom/credentials';

/** The contract with the `provisioner` entrypoint: environment variable names. */
export const PROVISIONER_ENV = {
  homeserverUrl: 'WARROOM_HOMESERVER_URL',
  serverName: 'WARROOM_SERVER_NAME',
  adminHandle: 'WARROOM_ADMIN_HANDLE',
  recorderHandle: 'WARROOM_RECORDER_HANDLE',
  /** "true": the recorder sidecar joins rooms itself, so wait for it instead of joining on its behalf. */
  recorderJoinsItself: 'WARROOM_RECORDER_JOINS_ITSELF',
  /** JSON `[{handle, role, passwordFile}]`: no password, only where to read it. */
  participants: 'WARROOM_PARTICIPANTS',
  /** JSON `[{alias, name, topic}]`. */
  rooms: 'WARROOM_ROOMS',
  registrationSecretFile: 'WARROOM_REGISTRATION_SHARED_SECRET_FILE',
  adminPasswordFile: 'WARROOM_ADMIN_PASSWORD_FILE',
  recorderPasswordFile: 'WARROOM_RECORDER_PASSWORD_FILE',
} as const;

export interface ProvisionerParticipantEnv {
  handle: string;
  role: string;
  passwordFile: string;
}

export function buildProvisionerJob(ctx: BuildContext): KubeObject {
  const labels = channelLabels(ctx.channel.name, COMPONENTS.provisioner);
  const participantPath = (handle: string) => `participants/${participantSecretName(handle)}`;
  const participants: ProvisionerParticipantEnv[] = ctx.participants.map((p) => ({
    handle: p.handle,
    role: p.role,
    passwordFile: `${CREDENTIALS_DIR}/${participantPath(p.handle)}`,
  }));
  const sources: VolumeProjection[] = [
    // Of the homeserver's secrets, only what shared-secret registration needs.
    {
      secret: {
        name: SECRET_NAMES.synapse,
        items: [{ key: SECRET_KEYS.registrationSharedSecret, path: `synapse/${SECRET_KEYS.registrationSharedSecret}` }],
      },
    },
    {
      secret: {
        name: SECRET_NAMES.bots,
        items: [
          { key: SECRET_KEYS.adminBotPassword, path: `bots/${SECRET_KEYS.adminBotPassword}` },
          { key: SECRET_KEYS.recorderPassword, path: `bots/${SECRET_KEYS.recorderPassword}` },
        ],
      },
    },
    ...ctx.participants.map((p) => ({
      secret: {
        name: participantSecretName(p.handle),
        items: [{ key: participantPasswordKey(p.handle), path: participantPath(p.handle) }],
      },
    })),
  ];

  const template: PodTemplate = {
    metadata: { labels },
    spec: {
      serviceAccountName: COMPONENTS.provisioner,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: 'Never',
      securityContext: restrictedPodSecurityContext(PROVISIONER_UID),
      containers: [
        {
          name: 'provisioner',
          image: ctx.images.operator,
          args: ['provisioner'],
          env: [
            { name: PROVISIONER_ENV.homeserverUrl, value: homeserverServiceUrl(ctx) },
            { name: PROVISIONER_ENV.serverName, value: ctx.serverName },
            { name: PROVISIONER_ENV.adminHandle, value: ADMIN_BOT_HANDLE },
            { name: PROVISIONER_ENV.recorderHandle, value: RECORDER_HANDLE },
            { name: PROVISIONER_ENV.recorderJoinsItself, value: String(ctx.recording.enabled) },
            { name: PROVISIONER_ENV.participants, value: JSON.stringify(participants) },
            { name: PROVISIONER_ENV.rooms, value: JSON.stringify(DEFAULT_ROOMS) },
            {
              name: PROVISIONER_ENV.registrationSecretFile,
              value: `${CREDENTIALS_DIR}/synapse/${SECRET_KEYS.registrationSharedSecret}`,
            },
            {
              name: PROVISIONER_ENV.adminPasswordFile,
              value: `${CREDENTIALS_DIR}/bots/${SECRET_KEYS.adminBotPassword}`,
            },
            {
              name: PROVISIONER_ENV.recorderPasswordFile,
              value: `${CREDENTIALS_DIR}/bots/${SECRET_KEYS.recorderPassword}`,
            },
          ],
          volumeMounts: [
            { name: 'credentials', mountPath: CREDENTIALS_DIR, readOnly: true },
            { name: 'tmp', mountPath: '/tmp' },
          ],
          resources: ctx.resources.provisioner,
          securityContext: restrictedContainerSecurityContext(),
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
      volumes: [
        { name: 'credentials', projected: { sources, defaultMode: 0o440 } },
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
      ],
    },
  };

  const spec = {
    // Retries cover a homeserver that is still starting (first boot, migrations).
    backoffLimit: 6,
    activeDeadlineSeconds: 1800,
    // Long enough to read its logs; once it is gone, a later reconcile re-creates it, and re-running is harmless.
    ttlSecondsAfterFinished: 86_400,
    template,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: childMeta(ctx, `provision-${specHash(spec)}`, COMPONENTS.provisioner),
    spec,
  };
}

function specHash(spec: unknown): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 10);
}
