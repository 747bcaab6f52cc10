import { buildSealedSecret, type SealingCert } from '../../../crypto/sealed-secrets.ts';
import {
  type ChannelSecretMaterial,
  participantPasswordKey,
  SECRET_KEYS,
  secretMaterialEntries,
} from '../../../crypto/secret-material.ts';
import type { KubeObject } from '../../../kube/objects.ts';
import { renderPgpassLine } from '../../../matrix/config/synapse.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext, SecretsMode } from './context.ts';
import { COMPONENTS } from './ports.ts';
import { POSTGRES_CONNECTION } from './postgres.ts';
import { LIVEKIT_SECRET_KEYS, POSTGRES_SECRET_KEYS, participantSecretName, SECRET_NAMES } from './secret-names.ts';

export type { SecretsMode };
export { POSTGRES_SECRET_KEYS, participantSecretName, SECRET_NAMES };

/**
 * Which Secrets a channel needs and what each holds, kept apart from `buildDesired` because their values are random:
 * the reconciler creates each missing one exactly once (sealing is one-way, and re-sealing would rotate the keys of
 * a running homeserver). Splitting by consumer lets every pod mount only what it reads, and one Secret per
 * participant means adding someone seals one new Secret and never touches an existing one.
 */

export interface SecretPlanEntry {
  name: string;
  component: string;
  keys: string[];
  /** Set on a participant's Secret: whose password it holds. */
  participant?: string;
}

/** The name the reconciler's secrets phase uses. */
export type SecretEntry = SecretPlanEntry;

export function secretPlan(ctx: BuildContext): SecretPlanEntry[] {
  const plan: SecretPlanEntry[] = [
    {
      name: SECRET_NAMES.synapse,
      component: COMPONENTS.synapse,
      keys: [
        SECRET_KEYS.registrationSharedSecret,
        SECRET_KEYS.macaroonSecretKey,
        SECRET_KEYS.formSecret,
        SECRET_KEYS.signingKey,
        SECRET_KEYS.turnSharedSecret,
      ],
    },
    // Sealed even while calls are off: it must hold the same value as Synapse's copy, and once sealed nobody has the
    // plaintext any more, so it could not be produced later when calls are switched on.
    { name: SECRET_NAMES.turn, component: COMPONENTS.coturn, keys: [SECRET_KEYS.turnSharedSecret] },
    {
      name: SECRET_NAMES.bots,
      component: COMPONENTS.provisioner,
      keys: [SECRET_KEYS.adminBotPassword, SECRET_KEYS.recorderPassword],
    },
  ];
  if (ctx.database === 'postgres') {
    plan.push({
      name: SECRET_NAMES.postgres,
      component: COMPONENTS.postgres,
      keys: [POSTGRES_SECRET_KEYS.password, POSTGRES_SECRET_KEYS.pgpass],
    });
  }
  if (ctx.calls.enabled && ctx.calls.sfu) {
    // Shared by the SFU (as its key_file) and the authoriser (which signs with it); nobody else mounts it.
    plan.push({
      name: SECRET_NAMES.livekit,
      component: COMPONENTS.livekit,
      keys: [LIVEKIT_SECRET_KEYS.apiKey, LIVEKIT_SECRET_KEYS.apiSecret, LIVEKIT_SECRET_KEYS.keyFile],
    });
  }
  for (const participant of ctx.participants) {
    plan.push({
      name: participantSecretName(participant.handle),
      component: COMPONENTS.provisioner,
      // `password.<handle>`, as secretMaterialEntries names it, so each key maps straight onto the generated material.
      keys: [participantPasswordKey(participant.handle)],
      participant: participant.handle,
    });
  }
  return plan;
}

export interface ExtraSecretValues {
  /** Postgres has no slot in ChannelSecretMaterial: the reconciler generates it (generateToken) with the rest. */
  postgresPassword?: string;
  /** The LiveKit API key pair, generated like the Postgres password (see liveKitCredentials). */
  liveKit?: { apiKey: string; apiSecret: string };
}

/**
 * A LiveKit API key pair from two random tokens: the key is an id (LiveKit's `API` prefix, no `:` or spaces so it
 * stays a plain YAML key), the secret 43 url-safe characters (LiveKit wants at least 32).
 */
export function liveKitCredentials(token: () => string): { apiKey: string; apiSecret: string } {
  return {
    apiKey: `API${token()
      .replace(/[^A-Za-z0-9]/g, '')
      .slice(0, 12)}`,
    apiSecret: token(),
  };
}

/** The values of one plan entry, taken from the generated material. Throws rather than seal an incomplete Secret. */
export function secretValues(
  entry: SecretPlanEntry,
  material: ChannelSecretMaterial,
  extra: ExtraSecretValues = {},
): Record<string, string> {
  if (entry.participant !== undefined) {
    const password = Object.hasOwn(material.participantPasswords, entry.participant)
      ? material.participantPasswords[entry.participant]
      : undefined;
    if (password === undefined) throw new Error(`no password was generated for participant ${entry.participant}`);
    return { [participantPasswordKey(entry.participant)]: password };
  }
  if (entry.name === SECRET_NAMES.postgres) {
    if (!extra.postgresPassword) throw new Error('postgres-credentials needs a generated postgresPassword');
    return {
      [POSTGRES_SECRET_KEYS.password]: extra.postgresPassword,
      [POSTGRES_SECRET_KEYS.pgpass]: renderPgpassLine({ ...POSTGRES_CONNECTION, password: extra.postgresPassword }),
    };
  }
  if (entry.name === SECRET_NAMES.livekit) {
    if (!extra.liveKit) throw new Error('livekit-credentials needs a generated liveKit key pair');
    return {
      [LIVEKIT_SECRET_KEYS.apiKey]: extra.liveKit.apiKey,
      [LIVEKIT_SECRET_KEYS.apiSecret]: extra.liveKit.apiSecret,
      [LIVEKIT_SECRET_KEYS.keyFile]: `${extra.liveKit.apiKey}: ${extra.liveKit.apiSecret}\n`,
    };
  }
  const all = secretMaterialEntries(material);
  return Object.fromEntries(
    entry.keys.map((key) => {
      const value = all[key];
      if (value === undefined) throw new Error(`no generated value for ${entry.name}/${key}`);
      return [key, value];
    }),
  );
}

/**
 * The object to create for one entry: a Secret in `plain` mode, else a strict-scope SealedSecret (it unseals only
 * under this exact name and namespace). Both are immutable: nothing may swap a credential of a live war room.
 */
export function renderSecret(
  entry: SecretPlanEntry,
  values: Record<string, string>,
  mode: SecretsMode,
  namespace: string,
  channelName: string,
  cert?: string | Buffer | SealingCert,
): KubeObject {
  const expected = [...entry.keys].sort();
  const given = Object.keys(values).sort();
  if (expected.join('\n') !== given.join('\n')) {
    // Key names only: a value must never reach an error message.
    throw new Error(`Secret ${entry.name} expects keys [${expected.join(', ')}], got [${given.join(', ')}]`);
  }
  const labels = channelLabels(channelName, entry.component);
  if (mode === 'plain') {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: entry.name, namespace, labels },
      type: 'Opaque',
      immutable: true,
      data: Object.fromEntries(given.map((key) => [key, Buffer.from(values[key] ?? '', 'utf8').toString('base64')])),
    };
  }
  if (cert === undefined) throw new Error(`sealing ${entry.name} needs the sealed-secrets controller certificate`);
  const sealed = buildSealedSecret({
    name: entry.name,
    namespace,
    scope: 'strict',
    certPem: cert,
    data: values,
    labels,
    immutable: true,
  });
  return sealed as unknown as KubeObject;
}
