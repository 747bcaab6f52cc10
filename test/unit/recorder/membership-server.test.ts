import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../src/observability/logger.ts';
import { listen } from '../../../src/recorder/control-server.ts';
import { createMembershipServer } from '../../../src/recorder/membership-server.ts';

// The server's contract with the call authoriser; the recorder's live answer from a real Synapse is exercised in
// test/e2e/matrixrtc-call.test.ts.
describe('the recorder membership listener', () => {
  const joined = new Set(['!ops:war.invalid|@alice:war.invalid']);
  let loggedIn = true;
  const asked: string[] = [];
  const server = createMembershipServer(
    {
      isJoined(roomId, userId) {
        asked.push(`${roomId}|${userId}`);
        if (!loggedIn) return undefined;
        if (roomId === '!down:war.invalid') return Promise.reject(new Error('ECONNREFUSED'));
        return Promise.resolve(joined.has(`${roomId}|${userId}`));
      },
    },
    silentLogger(),
  );
  let base = '';
  const get = async (path: string, method = 'GET') => {
    const res = await fetch(`${base}${path}`, { method });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const q = (roomId: string, userId: string) =>
    `/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(userId)}`;

  before(async () => {
    await listen(server, { host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  test('answers yes or no, and nothing else', async () => {
    assert.deepEqual(await get(q('!ops:war.invalid', '@alice:war.invalid')), { status: 200, body: { joined: true } });
    assert.deepEqual(await get(q('!ops:war.invalid', '@erin:war.invalid')), { status: 200, body: { joined: false } });
    assert.equal((await get('/healthz')).status, 200);
    // No status, no member list, no control route on this port.
    for (const path of ['/status', '/metrics', '/seal', `/rooms/${encodeURIComponent('!ops:war.invalid')}/members`]) {
      assert.equal((await get(path)).status, 404, path);
    }
    assert.equal((await get(q('!ops:war.invalid', '@alice:war.invalid'), 'POST')).status, 405);
  });

  test('refuses what is not a room id or a user id before asking anyone', async () => {
    const before = asked.length;
    assert.equal((await get(q('ops', '@alice:war.invalid'))).status, 400);
    assert.equal((await get(q('!ops:war.invalid', 'alice'))).status, 400);
    assert.equal((await get('/rooms/%E0%A4%A/members/x')).status, 400);
    assert.equal(asked.length, before);
  });

  test('before login a 503, a homeserver failure a 502: never a guess', async () => {
    assert.equal((await get(q('!down:war.invalid', '@alice:war.invalid'))).status, 502);
    loggedIn = false;
    assert.equal((await get(q('!ops:war.invalid', '@alice:war.invalid'))).status, 503);
    loggedIn = true;
  });
});
