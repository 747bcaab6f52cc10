/**
 * The operator's own Matrix accounts. Their handles start with `warroom`, which the API reserves (no participant
 * handle may even look like it), so a participant can never register or impersonate them.
 */
export const ADMIN_BOT_HANDLE = 'warroom-admin';
export const RECORDER_HANDLE = 'warroom-recorder';

export function matrixUserId(handle: string, serverName: string): string {
  return `@${handle}:${serverName}`;
}
