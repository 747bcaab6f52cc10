import { createHash } from 'node:crypto';

/** Names and keys of the channel's Secrets, shared by the secret plan and the pods that mount them. */
export const SECRET_NAMES = {
  synapse: 'synapse-secrets',
  turn: 'turn-secret',
  bots: 'bot-credentials',
  postgres: 'postgres-credentials',
  livekit: 'livekit-credentials',
} as const;

/**
 * Keys of the LiveKit Secret: the API key pair for the authoriser, and the same pair as LiveKit's `key_file` YAML
 * (`<key>: <secret>`) for the SFU, which reads nothing else.
 */
export const LIVEKIT_SECRET_KEYS = { apiKey: 'api_key', apiSecret: 'api_secret', keyFile: 'keys.yaml' } as const;

/** Keys of the Postgres Secret; the others use secret-material's key names (SECRET_KEYS, participantPasswordKey). */
export const POSTGRES_SECRET_KEYS = { password: 'postgres_password', pgpass: 'pgpass' } as const;

/**
 * `participant-<handle>`. Handles may hold `_` and `=`, which Secret names may not (and a `.` would split a label),
 * so those are folded to `-` and a short hash of the real handle keeps two folded handles apart.
 */
export function participantSecretName(handle: string): string {
  const folded = handle
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (folded === handle) return `participant-${handle}`;
  const hash = createHash('sha256').update(handle).digest('hex').slice(0, 8);
  return folded ? `participant-${folded}-${hash}` : `participant-${hash}`;
}
