import type { KubeObject } from '../../../kube/objects.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';
import { childMeta } from './object-meta.ts';
import type { PodTemplate, Volume } from './pod-types.ts';
import { COMPONENTS, PORTS } from './ports.ts';
import { POSTGRES_SECRET_KEYS, SECRET_NAMES } from './secret-names.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';
import { dataClaimTemplate } from './storage.ts';

/**
 * The optional dedicated Postgres of one homeserver (`spec.database: postgres`). Only Synapse may reach it (see the
 * NetworkPolicies); its password is the one generated secret it mounts.
 */

/** How Synapse connects; the pgpass line in `postgres-credentials` is rendered from the same values. */
export const POSTGRES_CONNECTION = {
  host: 'postgres',
  port: PORTS.postgres,
  user: 'synapse',
  database: 'synapse',
} as const;

/** The uid of `postgres` in the Debian-based official image; other uids work through the image's nss_wrapper. */
export const POSTGRES_UID = 999;

const SECRET_DIR = '/run/secrets/postgres';
// The volume is mounted one level above PGDATA: the data directory must not be a mount root (lost+found), and
// postgres:18+ images refuse a volume mounted at /var/lib/postgresql/data.
const VOLUME_DIR = '/var/lib/postgresql';
const PGDATA = `${VOLUME_DIR}/pgdata`;

export function buildPostgresService(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(ctx, 'postgres', COMPONENTS.postgres),
    spec: {
      type: 'ClusterIP',
      selector: channelLabels(ctx.channel.name, COMPONENTS.postgres),
      ports: [{ name: 'postgres', port: PORTS.postgres, targetPort: PORTS.postgres, protocol: 'TCP' }],
    },
  };
}

export function buildPostgresStatefulSet(ctx: BuildContext): KubeObject {
  const labels = channelLabels(ctx.channel.name, COMPONENTS.postgres);
  const isReady = {
    exec: {
      command: [
        'pg_isready',
        '-h',
        '127.0.0.1',
        '-p',
        String(PORTS.postgres),
        '-U',
        POSTGRES_CONNECTION.user,
        '-d',
        POSTGRES_CONNECTION.database,
      ],
    },
  };
  const volumes: Volume[] = [
    {
      name: 'credentials',
      // Only the password: the pgpass line is Synapse's, not the server's.
      secret: {
        secretName: SECRET_NAMES.postgres,
        items: [{ key: POSTGRES_SECRET_KEYS.password, path: 'password' }],
        defaultMode: 0o440,
      },
    },
    { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
  ];
  const template: PodTemplate = {
    metadata: { labels },
    spec: {
      serviceAccountName: COMPONENTS.postgres,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(POSTGRES_UID),
      containers: [
        {
          name: 'postgres',
          image: ctx.images.postgres,
          env: [
            { name: 'POSTGRES_USER', value: POSTGRES_CONNECTION.user },
            { name: 'POSTGRES_DB', value: POSTGRES_CONNECTION.database },
            { name: 'POSTGRES_PASSWORD_FILE', value: `${SECRET_DIR}/password` },
            // Synapse refuses a database whose collation is not C (it would corrupt its sort orders).
            { name: 'POSTGRES_INITDB_ARGS', value: '--encoding=UTF8 --locale=C' },
            { name: 'PGDATA', value: PGDATA },
          ],
          ports: [{ name: 'postgres', containerPort: PORTS.postgres, protocol: 'TCP' }],
          volumeMounts: [
            { name: 'data', mountPath: VOLUME_DIR },
            { name: 'credentials', mountPath: SECRET_DIR, readOnly: true },
            { name: 'run', mountPath: '/var/run/postgresql' },
            { name: 'tmp', mountPath: '/tmp' },
          ],
          resources: ctx.resources.postgres,
          securityContext: restrictedContainerSecurityContext(),
          startupProbe: { ...isReady, periodSeconds: 5, failureThreshold: 60 },
          readinessProbe: { ...isReady, periodSeconds: 10, timeoutSeconds: 5 },
          livenessProbe: { ...isReady, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 4 },
        },
      ],
      volumes,
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: childMeta(ctx, 'postgres', COMPONENTS.postgres),
    spec: {
      replicas: 1,
      serviceName: 'postgres',
      selector: { matchLabels: labels },
      template,
      volumeClaimTemplates: [dataClaimTemplate(ctx, COMPONENTS.postgres)],
    },
  };
}
