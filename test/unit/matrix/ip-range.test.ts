import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrToRange, formatRange } from '../../../src/matrix/config/ip-range.ts';

test('IPv4 CIDRs become inclusive ranges', () => {
  assert.deepEqual(cidrToRange('10.0.0.0/8'), { family: 4, first: '10.0.0.0', last: '10.255.255.255' });
  assert.deepEqual(cidrToRange('100.64.0.0/10'), { family: 4, first: '100.64.0.0', last: '100.127.255.255' });
  assert.deepEqual(cidrToRange('0.0.0.0/0'), { family: 4, first: '0.0.0.0', last: '255.255.255.255' });
  assert.equal(formatRange(cidrToRange('169.254.169.254')), '169.254.169.254');
  assert.equal(formatRange(cidrToRange('169.254.169.254/32')), '169.254.169.254');
});

test('host bits are masked to the network (the whole block is covered)', () => {
  assert.equal(formatRange(cidrToRange('10.96.12.7/12')), '10.96.0.0-10.111.255.255');
});

test('IPv6 CIDRs expand compressed and embedded-IPv4 forms', () => {
  assert.equal(formatRange(cidrToRange('fc00::/7')), 'fc00:0:0:0:0:0:0:0-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  assert.equal(formatRange(cidrToRange('::1')), '0:0:0:0:0:0:0:1');
  assert.equal(formatRange(cidrToRange('::ffff:10.0.0.0/104')), '0:0:0:0:0:ffff:a00:0-0:0:0:0:0:ffff:aff:ffff');
  assert.equal(formatRange(cidrToRange('2001:db8:1::/48')), '2001:db8:1:0:0:0:0:0-2001:db8:1:ffff:ffff:ffff:ffff:ffff');
  assert.equal(formatRange(cidrToRange('fd00:ec2::254')), 'fd00:ec2:0:0:0:0:0:254');
});

test('malformed input is rejected, never silently skipped', () => {
  for (const bad of [
    '',
    'not-an-ip',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/8/1',
    '10.0.0/8',
    '10.0.0.0/-1',
    '10.0.0.0/ 8',
  ]) {
    assert.throws(() => cidrToRange(bad), /invalid CIDR/, bad);
  }
});
