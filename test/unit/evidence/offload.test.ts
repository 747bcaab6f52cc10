import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { signExportOffThread, verifyArchiveOffThread } from '../../../src/evidence/offload.ts';
import { cleanup, newKey, sampleArchive } from './fixtures.ts';

after(cleanup);

describe('evidence work off the event loop', () => {
  it('signs and verifies in a worker with the same results, while the main thread keeps running', async () => {
    const key = newKey();
    const pub = createPublicKey(key);
    const { unsigned, signed } = await sampleArchive(key, 3000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      const s = await signExportOffThread(unsigned, key);
      assert.deepEqual(Buffer.from(s), Buffer.from(signed));
      const report = await verifyArchiveOffThread(s, { publicKey: pub });
      assert.equal(report.ok, true);
      assert.equal(report.manifest?.transcript.events, 3007);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, 'timers ran on the main thread meanwhile');
    const bad = new Uint8Array(signed);
    bad[bad.length - 2000]! ^= 1;
    assert.equal((await verifyArchiveOffThread(bad, { publicKey: pub })).ok, false);
    await assert.rejects(signExportOffThread(signed, key), /already signed/);
  });
});
