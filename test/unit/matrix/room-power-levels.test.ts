import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  desiredPowerLevels,
  ROLE_POWER_LEVELS,
  roomVersionHasInfiniteCreatorPower,
} from '../../../src/matrix/room-power-levels.ts';

const participants = [
  { userId: '@lead:s', role: 'lead' as const },
  { userId: '@comms:s', role: 'comms' as const },
  { userId: '@scribe:s', role: 'scribe' as const },
  { userId: '@responder:s', role: 'responder' as const },
  { userId: '@observer:s', role: 'observer' as const },
];

test('roles map to the agreed levels and observers sit below events_default', () => {
  const content = desiredPowerLevels({
    adminUserId: '@admin:s',
    recorderUserId: '@recorder:s',
    participants,
    creatorHasInfinitePower: true,
  });
  assert.deepEqual(content.users, {
    '@lead:s': 100,
    '@comms:s': 50,
    '@scribe:s': 50,
    '@responder:s': 0,
    '@observer:s': -1,
    '@recorder:s': 100,
  });
  assert.ok(ROLE_POWER_LEVELS.observer < content.events_default, 'observer can send messages');
  assert.ok(ROLE_POWER_LEVELS.responder >= content.events_default, 'responder cannot send messages');
  assert.equal(content.users_default, 0);
});

test('nobody listed can kick or demote the recorder, and structural changes need 100', () => {
  const content = desiredPowerLevels({
    adminUserId: '@admin:s',
    recorderUserId: '@recorder:s',
    participants,
    creatorHasInfinitePower: true,
  });
  const recorder = content.users['@recorder:s'] ?? 0;
  const highestParticipant = Math.max(...participants.map((p) => ROLE_POWER_LEVELS[p.role]));
  // Kicking, banning or changing a user's level needs strictly more power than the target has.
  assert.ok(recorder >= highestParticipant);
  for (const type of ['m.room.power_levels', 'm.room.encryption', 'm.room.join_rules', 'm.room.history_visibility']) {
    assert.equal(content.events[type], 100, type);
  }
  assert.ok((content.events['m.room.tombstone'] ?? 0) > highestParticipant, 'a lead could upgrade the room away');
  assert.equal(content.invite, 100);
});

test('room version 12 leaves the creator out of users; older versions list the admin at 100', () => {
  const input = { adminUserId: '@admin:s', recorderUserId: '@recorder:s', participants };
  assert.ok(!('@admin:s' in desiredPowerLevels({ ...input, creatorHasInfinitePower: true }).users));
  assert.equal(desiredPowerLevels({ ...input, creatorHasInfinitePower: false }).users['@admin:s'], 100);
});

test('a participant who is also named admin or recorder does not override those levels', () => {
  const content = desiredPowerLevels({
    adminUserId: '@admin:s',
    recorderUserId: '@recorder:s',
    participants: [{ userId: '@recorder:s', role: 'observer' }],
    creatorHasInfinitePower: false,
  });
  assert.equal(content.users['@recorder:s'], 100);
  assert.equal(content.users['@admin:s'], 100);
});

test('roomVersionHasInfiniteCreatorPower knows v12+ and hydra', () => {
  assert.equal(roomVersionHasInfiniteCreatorPower('12'), true);
  assert.equal(roomVersionHasInfiniteCreatorPower('13'), true);
  assert.equal(roomVersionHasInfiniteCreatorPower('org.matrix.hydra.11'), true);
  assert.equal(roomVersionHasInfiniteCreatorPower('10'), false);
  assert.equal(roomVersionHasInfiniteCreatorPower('1'), false);
  assert.equal(roomVersionHasInfiniteCreatorPower('org.example.custom'), false);
});
