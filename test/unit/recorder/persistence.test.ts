import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { coalesce } from '../../../src/recorder/coalesce.ts';
import { KeyVault, VAULT_FILES } from '../../../src/recorder/key-vault.ts';
import { StateStore } from '../../../src/recorder/state-store.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recorder-persist-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the key vault round-trips, keeps no plaintext on disk, and refuses a wrong password', async () => {
  const secret = JSON.stringify([{ session_key: 'megolm-session-key-material', room_id: '!r' }]);
  await new KeyVault(dir, 'the-recorder-password').write('roomKeys', secret);
  const onDisk = await readFile(join(dir, VAULT_FILES.roomKeys), 'utf8');
  assert.equal(onDisk.includes('megolm-session-key-material'), false);
  // A new process (new salt) reads what the previous one wrote.
  assert.equal(await new KeyVault(dir, 'the-recorder-password').read('roomKeys'), secret);
  await assert.rejects(new KeyVault(dir, 'another-password').read('roomKeys'), /cannot be decrypted/);
  assert.equal(await new KeyVault(dir, 'the-recorder-password').read('secrets'), undefined);
  // An unreadable file is set aside, never deleted; the next read finds nothing and the recorder starts fresh.
  const aside = await new KeyVault(dir, 'another-password').setAside('roomKeys');
  assert.match(aside, /^room-keys\.vault\.unreadable-\d+$/);
  assert.equal(await new KeyVault(dir, 'another-password').read('roomKeys'), undefined);
  assert.equal(await new KeyVault(dir, 'the-recorder-password').read('roomKeys'), undefined);
  assert.ok((await readFile(join(dir, aside), 'utf8')).length > 0);
});

test('the state store persists cursors and devices atomically and reloads them', async () => {
  const store = new StateStore(dir);
  await store.load();
  await store.update((s) => {
    s.deviceId = 'DEV1';
    s.cursors['!a:x'] = 't1';
  });
  await store.update((s) => {
    s.devices['@alice:x'] = ['A1'];
  });
  const reloaded = new StateStore(dir);
  const state = await reloaded.load();
  assert.deepEqual(state, { version: 1, deviceId: 'DEV1', cursors: { '!a:x': 't1' }, devices: { '@alice:x': ['A1'] } });
});

test('coalesce: never overlapping, and calls made during a run share one next run', async () => {
  let runs = 0;
  let active = 0;
  const run = coalesce(async () => {
    active++;
    assert.equal(active, 1);
    runs++;
    await new Promise((r) => setTimeout(r, 20));
    active--;
  });
  const first = run();
  const second = run();
  const third = run();
  assert.equal(second, third);
  await Promise.all([first, second, third]);
  assert.equal(runs, 2);
});
