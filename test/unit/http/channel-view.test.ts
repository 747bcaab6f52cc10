import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Phase } from '../../../src/api/v1alpha1/incidentchannel.ts';
import { ChannelDetail, ChannelSummary, PHASES } from '../../../src/http/channel-schemas.ts';
import { channelPhase, toChannelDetail, toChannelSummary, withoutCredentials } from '../../../src/http/channel-view.ts';
import { channel, NOW } from './fakes.ts';

describe('channel views', () => {
  it('uses exactly the phases of the IncidentChannel API', () => {
    assert.deepEqual([...PHASES], Phase.options);
  });

  it('reads a channel without status as Pending, with no expiry and the spec participant count', () => {
    const summary = toChannelSummary(channel('a'), NOW);
    assert.deepEqual(summary, {
      name: 'a',
      caseId: 'case-a',
      severity: 'high',
      phase: 'Pending',
      ready: false,
      deleting: false,
      createdAt: '2030-01-01T10:00:00Z',
      participantCount: 2,
    });
    assert.deepEqual(ChannelSummary.parse(summary), summary, 'valid against the response schema');
  });

  it('passes ticket-style case ids through unchanged, up to the CRD limit of 64, and drops longer ones', () => {
    for (const caseId of ['IR-2026-0042', 'JIRA:SEC-12', 'case#42', 'sn/INC001', `X${'/#:'.repeat(21)}`]) {
      const obj = channel('a');
      (obj.spec as Record<string, unknown>).caseId = caseId;
      const summary = toChannelSummary(obj, NOW);
      assert.equal(summary.caseId, caseId);
      assert.deepEqual(ChannelSummary.parse(summary), summary);
    }
    const tooLong = channel('a');
    (tooLong.spec as Record<string, unknown>).caseId = 'x'.repeat(65);
    assert.equal(toChannelSummary(tooLong, NOW).caseId, undefined);
  });

  it('counts seconds left down to 0, never below', () => {
    const soon = channel('a', { phase: 'Expiring', expiresAt: '2030-01-01T12:00:30.900Z' });
    assert.equal(toChannelSummary(soon, NOW).secondsLeft, 30);
    const late = channel('a', { phase: 'Expiring', expiresAt: '2030-01-01T11:00:00Z' });
    assert.equal(toChannelSummary(late, NOW).secondsLeft, 0);
  });

  it('marks a channel being deleted, and a closed one', () => {
    const obj = channel('a', { phase: 'Archiving', closedAt: '2030-01-01T11:59:00Z' });
    obj.metadata.deletionTimestamp = '2030-01-01T11:59:30Z';
    (obj.spec as Record<string, unknown>).closed = true;
    const detail = toChannelDetail(obj, NOW);
    assert.equal(detail.deleting, true);
    assert.equal(detail.closed, true);
    assert.equal(detail.closedAt, '2030-01-01T11:59:00Z');
  });

  it('reports the archive reference and verification, without URL credentials', () => {
    const obj = channel('a', {
      phase: 'Closed',
      archive: {
        location: 'https://key:secret@store.example.org/evidence/a.tgz?X-Amz-Signature=abc',
        sha256: 'c'.repeat(64),
        verifiedAt: '2030-01-01T11:00:00Z',
      },
    });
    const detail = toChannelDetail(obj, NOW);
    assert.deepEqual(detail.archive, {
      location: 'https://store.example.org/evidence/a.tgz',
      sha256: 'c'.repeat(64),
      verifiedAt: '2030-01-01T11:00:00Z',
    });
    assert.deepEqual(ChannelDetail.parse(detail), detail);
  });

  it('treats an unknown phase as Pending rather than passing it through', () => {
    assert.equal(channelPhase(channel('a', { phase: 'Hacked' })), 'Pending');
    assert.equal(channelPhase(channel('a', { phase: 'Failed' })), 'Failed');
  });
});

describe('withoutCredentials', () => {
  it('strips userinfo, query and fragment from URLs with a host', () => {
    assert.equal(withoutCredentials('https://u:p@h.example/x?sig=1#f'), 'https://h.example/x');
    assert.equal(withoutCredentials('s3://bucket/key?X-Amz-Credential=abc'), 's3://bucket/key');
  });

  it('leaves clean URLs, opaque URIs and plain paths exactly as written', () => {
    for (const ref of [
      'https://chat.example.org',
      'turn:turn.example.org:3478?transport=tcp',
      '/var/lib/warroom/evidence/a.tgz',
      'pvc://warroom-evidence/a.tgz',
    ]) {
      assert.equal(withoutCredentials(ref), ref);
    }
  });
});
