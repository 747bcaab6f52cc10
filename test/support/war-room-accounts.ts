// What the tests and benches that run the war room's own entrypoints (recorder, provisioner) on the host share: the
// project's Node 24 and main.ts, and a fresh set of accounts with random passwords for a real Synapse.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ProvisionParticipant } from '../../src/matrix/provisioner.ts';

export const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export const newPassword = () => `pw-${randomBytes(18).toString('base64url')}`;

export interface WarRoomAccounts {
  admin: { handle: string; password: string };
  recorder: { handle: string; password: string };
  participants: ProvisionParticipant[];
}

/** The provisioner's bots under their real handles, and the given participants, each with a new password. */
export function warRoomAccounts(participants: Omit<ProvisionParticipant, 'password'>[]): WarRoomAccounts {
  return {
    admin: { handle: 'warroom-admin', password: newPassword() },
    recorder: { handle: 'warroom-recorder', password: newPassword() },
    participants: participants.map((p) => ({ ...p, password: newPassword() })),
  };
}
