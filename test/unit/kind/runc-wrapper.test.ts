// The offline engine's runc wrapper: what root's bounding set allows, and the spec it hands to runc.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { boundingSet, filterProcess } from '../../../hack/kind/runc-wrapper.ts';

// This machine kind's root: every capability up to CHECKPOINT_RESTORE (40) except SYS_RESOURCE (24).
const STATUS = 'Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n';

describe('runc wrapper', () => {
  test('reads the bounding set from /proc/self/status', () => {
    const caps = boundingSet(STATUS);
    assert.equal(caps.size, 40);
    assert.ok(!caps.has('CAP_SYS_RESOURCE'));
    assert.ok(caps.has('CAP_SYS_ADMIN') && caps.has('CAP_NET_ADMIN') && caps.has('CAP_CHECKPOINT_RESTORE'));
  });

  test('drops from every set exactly the capabilities root lacks, and says whether it changed anything', () => {
    const all = ['CAP_CHOWN', 'CAP_SYS_RESOURCE', 'CAP_SYS_ADMIN', 'CAP_FUTURE_THING'];
    const process = {
      capabilities: { bounding: [...all], effective: [...all], permitted: [...all], inheritable: [], ambient: [] },
    };
    assert.equal(filterProcess(process, boundingSet(STATUS)), true);
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      assert.deepEqual(process.capabilities[set], ['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    }
    assert.equal(filterProcess(process, boundingSet(STATUS)), false, 'a second pass changes nothing');
    assert.equal(filterProcess({}, boundingSet(STATUS)), false, 'a process without capabilities is left alone');
  });
});
