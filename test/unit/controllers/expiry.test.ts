import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideExpiry, type ExpiryInput, type ExpiryPolicy } from '../../../src/controllers/incidentchannel/expiry.ts';

const H = 3_600_000;
const M = 60_000;
const created = new Date('2026-11-23T10:00:00Z');
const policy: ExpiryPolicy = { maxTtlMs: 720 * H, warnBeforeMs: [H, 10 * M], maxRequeueMs: H };
const input = (over: Partial<ExpiryInput> = {}): ExpiryInput => ({
  createdAt: created,
  ttlMs: 72 * H,
  closed: false,
  deleting: false,
  warningsSent: [],
  ...over,
});
const at = (ms: number) => new Date(created.getTime() + ms);

test('a fresh channel is kept, expires at creation + ttl, and sleeps at most an hour', () => {
  const d = decideExpiry(input(), at(0), policy);
  assert.equal(d.action, 'keep');
  assert.equal(d.expiresAt.toISOString(), '2026-11-26T10:00:00.000Z');
  if (d.action === 'keep') {
    assert.equal(d.requeueAfterMs, H);
    assert.deepEqual(d.warningsDue, []);
    assert.equal(d.ttlCapped, false);
  }
});

test('the TTL boundary: one ms before is kept, at expiry it is torn down', () => {
  assert.equal(decideExpiry(input(), at(72 * H - 1), policy).action, 'keep');
  const d = decideExpiry(input(), at(72 * H), policy);
  assert.equal(d.action, 'teardown');
  if (d.action === 'teardown') assert.equal(d.reason, 'TTLExpired');
});

test('the operator --max-ttl caps a longer spec.ttl', () => {
  const d = decideExpiry(input({ ttlMs: 10_000 * H }), at(0), policy);
  assert.equal(d.expiresAt.getTime(), created.getTime() + 720 * H);
  assert.equal(d.action === 'keep' && d.ttlCapped, true);
});

test('extending the ttl before expiry moves expiresAt', () => {
  const before = decideExpiry(input({ ttlMs: 2 * H }), at(H), policy);
  const after = decideExpiry(input({ ttlMs: 4 * H }), at(H), policy);
  assert.equal(after.expiresAt.getTime() - before.expiresAt.getTime(), 2 * H);
});

test('closure and deletion win over a live TTL, deletion first', () => {
  const closed = decideExpiry(input({ closed: true }), at(0), policy);
  assert.equal(closed.action === 'teardown' && closed.reason, 'CaseClosed');
  const deleting = decideExpiry(input({ closed: true, deleting: true }), at(0), policy);
  assert.equal(deleting.action === 'teardown' && deleting.reason, 'Deleted');
});

test('warnings come due once, at T-1h and T-10m, and the requeue lands on the next one', () => {
  const ttl = 2 * H;
  const early = decideExpiry(input({ ttlMs: ttl }), at(30 * M), policy);
  assert.equal(early.action === 'keep' && early.requeueAfterMs, 30 * M, 'wakes exactly at T-1h');
  const atHour = decideExpiry(input({ ttlMs: ttl }), at(H), policy);
  assert.deepEqual(atHour.action === 'keep' && atHour.warningsDue, [H]);
  const sent = decideExpiry(input({ ttlMs: ttl, warningsSent: [H] }), at(H + M), policy);
  assert.deepEqual(sent.action === 'keep' && sent.warningsDue, []);
  assert.equal(sent.action === 'keep' && sent.requeueAfterMs, 49 * M, 'next wake-up is T-10m');
  const late = decideExpiry(input({ ttlMs: ttl, warningsSent: [H] }), at(ttl - 5 * M), policy);
  assert.deepEqual(late.action === 'keep' && late.warningsDue, [10 * M]);
  assert.equal(late.action === 'keep' && late.requeueAfterMs, 5 * M, 'then wakes at expiry');
});

test('a channel that missed both warnings (operator down) gets both at once', () => {
  const d = decideExpiry(input({ ttlMs: H }), at(55 * M), policy);
  assert.deepEqual(d.action === 'keep' && d.warningsDue, [H, 10 * M]);
});
