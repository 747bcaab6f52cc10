import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTranscriptHtml } from '../../../src/evidence/html.ts';
import type { TranscriptRecord } from '../../../src/evidence/transcript.ts';

const ROOM = '!ops';
let seq = 0;
const record = (over: Partial<TranscriptRecord>): TranscriptRecord => {
  seq += 1;
  return {
    seq,
    kind: 'event',
    eventId: `$e${seq}`,
    roomId: ROOM,
    sender: '@alice:war.invalid',
    ts: 1_800_000_000_000 + seq * 1000,
    recordedAt: '2027-01-15T08:00:00.000Z',
    decryption: 'plaintext',
    prev: '0'.repeat(64),
    ...over,
  } as TranscriptRecord;
};

const html = renderTranscriptHtml(
  [
    record({
      type: 'org.matrix.msc3401.call.member',
      stateKey: '_@alice:war.invalid_ALICEDEV_m.call',
      content: { application: 'm.call', device_id: 'ALICEDEV', focus_active: { type: 'livekit' } },
    }),
    record({
      type: 'io.element.call.encryption_keys',
      content: { keys: [{ index: 0, key: 'c2VjcmV0LWtleQ' }] },
      decryption: 'decrypted',
    }),
    record({ type: 'org.matrix.msc3401.call.member', stateKey: '_@alice:war.invalid_ALICEDEV_m.call', content: {} }),
    record({ type: 'm.call.invite', sender: '@erin:war.invalid', content: { call_id: 'c1<x>' } }),
    record({ type: 'm.call.hangup', sender: '@erin:war.invalid', content: { call_id: 'c1<x>' } }),
  ],
  {
    channel: { name: 'ir', uid: 'u', caseId: 'IR-1', namespace: 'ns' },
    createdAt: '2027-01-15T09:00:00.000Z',
    headHash: '0'.repeat(64),
    lines: 5,
    sealed: false,
  },
);

describe('calls in the transcript HTML', () => {
  it('shows who joined and left a MatrixRTC call, from which device and focus', () => {
    assert.match(html, /@alice:war\.invalid joined the call <span class="meta">\(device ALICEDEV, via livekit\)/);
    assert.match(html, /@alice:war\.invalid left the call <span class="meta">\(device ALICEDEV\)/);
  });
  it('shows the key exchange as such, and legacy 1:1 signalling with its call id escaped', () => {
    assert.match(html, /shared call media keys <span class="meta">\(media is end-to-end encrypted and not recorded\)/);
    assert.match(html, /@erin:war\.invalid placed a call <span class="meta">\(call c1&lt;x&gt;\)/);
    assert.match(html, /@erin:war\.invalid hung up/);
    assert.doesNotMatch(html, /c1<x>/);
  });
});
