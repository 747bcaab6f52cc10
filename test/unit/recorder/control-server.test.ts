import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { silentLogger } from '../../../src/observability/logger.ts';
import { type ControlTarget, createControlServer } from '../../../src/recorder/control-server.ts';
import { newDeviceNotice } from '../../../src/recorder/device-audit.ts';
import { createRecorderMetrics } from '../../../src/recorder/metrics.ts';
import type { RecorderStatus } from '../../../src/recorder/recorder.ts';

const STATUS: RecorderStatus = {
  ready: false,
  sealed: false,
  lines: 3,
  events: 3,
  decrypted: 1,
  failed: 0,
  headHash: 'a'.repeat(64),
  userId: '@warroom-recorder:x',
  rooms: [{ roomId: '!r:x', alias: '#control:x', events: 3 }],
};

async function serve(control: boolean, target: Partial<ControlTarget> = {}) {
  const notices: string[] = [];
  const full: ControlTarget = {
    ready: () => false,
    status: () => STATUS,
    seal: async () => ({ archive: new Uint8Array([1, 2, 3]), recordedLate: 0 }),
    archive: () => undefined,
    notice: async (text) => {
      notices.push(text);
      return '$e';
    },
    ...target,
  };
  const metrics = createRecorderMetrics();
  metrics.setHead('b'.repeat(64));
  const server = createControlServer({ target: full, metrics, log: silentLogger(), control });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, notices, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('read routes: healthz, readyz (503 until ready), status, metrics', async () => {
  const s = await serve(true);
  try {
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${s.url}/readyz`)).status, 503);
    assert.deepEqual(await (await fetch(`${s.url}/status`)).json(), STATUS);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`warroom_recorder_transcript_head_info\\{head="${'b'.repeat(64)}"\\} 1`));
    assert.match(metrics, /warroom_recorder_events_total\{decryption="failed"\} 0/);
    assert.equal((await fetch(`${s.url}/nope`)).status, 404);
    assert.equal((await fetch(`${s.url}/status`, { method: 'POST' })).status, 405);
  } finally {
    await s.close();
  }
});

test('control routes: seal returns the tar, archive is 404 before the seal, notices are validated', async () => {
  const s = await serve(true);
  try {
    const seal = await fetch(`${s.url}/seal`, { method: 'POST' });
    assert.equal(seal.status, 200);
    assert.equal(seal.headers.get('content-type'), 'application/x-tar');
    assert.deepEqual(new Uint8Array(await seal.arrayBuffer()), new Uint8Array([1, 2, 3]));
    assert.equal((await fetch(`${s.url}/archive`)).status, 404);
    const post = (body: string) => fetch(`${s.url}/notices`, { method: 'POST', body });
    assert.equal((await post('{"text":"closing in 10 minutes"}')).status, 202);
    assert.deepEqual(s.notices, ['closing in 10 minutes']);
    for (const bad of ['', '{', '{"text":""}', '{"text":5}', 'null', JSON.stringify({ text: 'x'.repeat(5000) })]) {
      assert.equal((await post(bad)).status, 400, bad);
    }
  } finally {
    await s.close();
  }
});

test('with a separate control port, the read-only port serves no control route', async () => {
  const s = await serve(false);
  try {
    assert.equal((await fetch(`${s.url}/seal`, { method: 'POST' })).status, 404);
    assert.equal((await fetch(`${s.url}/notices`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${s.url}/archive`)).status, 404);
    assert.equal((await fetch(`${s.url}/status`)).status, 200);
  } finally {
    await s.close();
  }
});

test('a failing notice is 503 with the reason; the new-device notice names user, device and display name', async () => {
  const s = await serve(true, {
    notice: async () => {
      throw new Error('not logged in yet');
    },
  });
  try {
    const res = await fetch(`${s.url}/notices`, { method: 'POST', body: '{"text":"hello"}' });
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error: string }).error, /not logged in yet/);
  } finally {
    await s.close();
  }
  assert.equal(
    newDeviceNotice('@alice:x', 'ABCDEFGH', 'Element Web'),
    '@alice:x logged in from a new device ABCDEFGH ("Element Web")',
  );
  assert.equal(newDeviceNotice('@alice:x', 'ABCDEFGH', undefined), '@alice:x logged in from a new device ABCDEFGH');
});
