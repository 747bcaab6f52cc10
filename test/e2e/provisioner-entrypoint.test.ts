// The Job's entrypoint as the image runs it (`node src/main.ts provisioner`), against a real Synapse, with the
// environment and file layout the provisioner Job builder produces.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PROVISIONER_ENV } from '../../src/controllers/incidentchannel/desired/provisioner-job.ts';
import { matrixRequest } from '../../src/matrix/matrix-http.ts';
import { loginWithPassword } from '../../src/matrix/register.ts';
import { type SynapsePeer, startSynapse } from '../support/synapse-peer.ts';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const SERVER = 'inc-entry.invalid';
let synapse: SynapsePeer;
let dir: string;

before(async () => {
  synapse = await startSynapse({
    serverName: SERVER,
    aliasCreators: [`@warroom-admin:${SERVER}`],
    turnUris: [],
    turnSharedSecret: randomBytes(32).toString('base64url'),
  });
  dir = await mkdtemp(join(tmpdir(), 'warroom-provisioner-'));
});
after(async () => {
  await synapse?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the provisioner entrypoint registers everyone and creates the rooms, printing no secret', async () => {
  const secrets: Record<string, string> = {
    registration: synapse.secrets.registrationSharedSecret,
    admin: randomBytes(24).toString('base64url'),
    recorder: randomBytes(24).toString('base64url'),
    falcon: randomBytes(24).toString('base64url'),
    heron: randomBytes(24).toString('base64url'),
  };
  for (const [name, value] of Object.entries(secrets)) await writeFile(join(dir, name), `${value}\n`, { mode: 0o400 });
  const env = {
    PATH: process.env.PATH,
    [PROVISIONER_ENV.homeserverUrl]: synapse.baseUrl,
    [PROVISIONER_ENV.serverName]: SERVER,
    [PROVISIONER_ENV.adminHandle]: 'warroom-admin',
    [PROVISIONER_ENV.recorderHandle]: 'warroom-recorder',
    [PROVISIONER_ENV.participants]: JSON.stringify([
      { handle: 'falcon', role: 'lead', passwordFile: join(dir, 'falcon') },
      { handle: 'heron', role: 'responder', passwordFile: join(dir, 'heron') },
    ]),
    [PROVISIONER_ENV.registrationSecretFile]: join(dir, 'registration'),
    [PROVISIONER_ENV.adminPasswordFile]: join(dir, 'admin'),
    [PROVISIONER_ENV.recorderPasswordFile]: join(dir, 'recorder'),
  };
  const first = await run(process.execPath, [MAIN, 'provisioner'], { env });
  const output = first.stdout + first.stderr;
  assert.match(output, /provisioning complete/);
  for (const value of Object.values(secrets)) assert.equal(output.includes(value), false, 'a secret reached the log');

  const session = await loginWithPassword(synapse.baseUrl, 'falcon', secrets.falcon ?? '');
  const joined = await matrixRequest<{ joined_rooms: string[] }>(
    synapse.baseUrl,
    'GET',
    '/_matrix/client/v3/joined_rooms',
    {
      accessToken: session.accessToken,
    },
  ).catch(() => ({ joined_rooms: [] }));
  const invited = await matrixRequest<{ rooms?: { invite?: Record<string, unknown> } }>(
    synapse.baseUrl,
    'GET',
    '/_matrix/client/v3/sync?timeout=0',
    { accessToken: session.accessToken },
  );
  const rooms = joined.joined_rooms.length + Object.keys(invited.rooms?.invite ?? {}).length;
  assert.equal(rooms, 2, 'falcon is in (or invited to) #control and #ops');

  // Idempotent: the Job may be retried.
  const second = await run(process.execPath, [MAIN, 'provisioner'], { env });
  assert.match(second.stdout + second.stderr, /provisioning complete/);
});

test('a broken environment fails with a one-line reason and exit code 1', async () => {
  const err = await run(process.execPath, [MAIN, 'provisioner'], { env: { PATH: process.env.PATH } }).then(
    () => undefined,
    (e: { code?: number; stderr?: string }) => e,
  );
  assert.equal(err?.code, 1);
  assert.match(err?.stderr ?? '', /warroom: provisioner configuration: WARROOM_HOMESERVER_URL/);
});
