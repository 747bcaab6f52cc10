import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import {
  type Channel,
  type ChannelState,
  channelState,
  toChannel,
} from '../../../src/controllers/incidentchannel/channel.ts';
import { defaultRelayPorts } from '../../../src/controllers/incidentchannel/context-from-spec.ts';
import {
  type PortBlock,
  RelayPortAllocator,
  RelayPortsTakenError,
} from '../../../src/controllers/incidentchannel/relay-ports.ts';

/** Two uids whose blocks start at the same place: what two channels coming up at once collide on. */
function collidingUids(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const uid = `uid-${i}`;
    const min = defaultRelayPorts(uid).min;
    const other = seen.get(min);
    if (other) return [other, uid];
    seen.set(min, uid);
  }
}

const channel = (uid: string): Channel =>
  toChannel({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name: uid, uid },
    spec: { caseId: uid, ttl: '1h', participants: [{ handle: 'falcon', role: 'lead' }], calls: { enabled: true } },
  });

function state(uid: string): ChannelState {
  const s = channelState(channel(uid));
  assert.ok(s, 'a valid spec');
  return s;
}

test('two channels reconciled before either coturn Service is in the cache get different blocks', () => {
  const [a, b] = collidingUids();
  assert.deepEqual(defaultRelayPorts(a), defaultRelayPorts(b), 'the premise: the same first choice');
  const services: { namespace: string; block: PortBlock }[] = [];
  const view = { coturnBlocks: () => services, channels: () => [channel(a), channel(b)] };
  const allocator = new RelayPortAllocator();
  const blockA = allocator.blockFor(state(a), 'wr-a', view, 0);
  const blockB = allocator.blockFor(state(b), 'wr-b', view, 0);
  assert.ok(blockA && blockB);
  assert.notDeepEqual(blockA, blockB);
  assert.deepEqual(allocator.blockFor(state(a), 'wr-a', view, 0), blockA, 'a channel keeps the block it was given');

  // Once its Service is in the cache, the Service is the truth.
  services.push({ namespace: 'wr-a', block: blockA });
  assert.deepEqual(allocator.blockFor(state(a), 'wr-a', view, 0), blockA);
});

test('a block the apiserver refused, or whose channel is gone, is handed out again', () => {
  const [a, b] = collidingUids();
  const channels = [channel(a), channel(b)];
  const view = { coturnBlocks: () => [], channels: () => channels };
  const allocator = new RelayPortAllocator();
  const first = allocator.blockFor(state(a), 'wr-a', view, 0);
  assert.ok(first);
  // Someone outside this operator holds it: refused, and a is moved on.
  assert.equal(allocator.noteRefusal(first, 'provided port is already allocated', 0), true);
  const second = allocator.blockFor(state(a), 'wr-a', view, 0);
  assert.notDeepEqual(second, first);

  // a is deleted before its Service was made: its block is free for b again.
  channels.splice(0, 1);
  const fresh = new RelayPortAllocator();
  assert.deepEqual(fresh.blockFor(state(a), 'wr-a', { ...view, channels: () => [channel(a), channel(b)] }, 0), first);
  assert.deepEqual(fresh.blockFor(state(b), 'wr-b', view, 0), first, 'a is gone: b takes its first choice');
});

test('with --relay-ports, every block is allocated inside that band, and the band running out says so', () => {
  const band = { min: 30000, max: 30049 };
  const allocator = new RelayPortAllocator(band);
  const channels: Channel[] = [];
  const view = { coturnBlocks: () => [], channels: () => channels };
  const given: PortBlock[] = [];
  for (let i = 0; i < 5; i++) {
    channels.push(channel(`band-${i}`));
    const block = allocator.blockFor(state(`band-${i}`), `wr-band-${i}`, view, 0);
    assert.ok(block && block.min >= band.min && block.max <= band.max, JSON.stringify(block));
    given.push(block);
  }
  assert.equal(new Set(given.map((b) => b.min)).size, 5, 'five different blocks fill the 50 ports');
  channels.push(channel('band-5'));
  assert.throws(
    () => allocator.blockFor(state('band-5'), 'wr-band-5', view, 0),
    /30000-30049 is in use.*--relay-ports/,
  );
});

test('--relay-ports takes a band of the NodePort range holding a block, and names the flag otherwise', () => {
  assert.deepEqual(loadConfig(['--relay-ports=32000-32019'], {}).relayPorts, { min: 32000, max: 32019 });
  assert.deepEqual(loadConfig([], { WARROOM_RELAY_PORTS: '30000-31999' }).relayPorts, { min: 30000, max: 31999 });
  assert.equal(loadConfig([], {}).relayPorts, undefined, 'default: the whole NodePort range');
  for (const bad of ['32000', '29990-30100', '32760-32800', '32000-32005', 'a-b']) {
    assert.throws(() => loadConfig([`--relay-ports=${bad}`], {}), /--relay-ports: .*NodePort range 30000-32767/, bad);
  }
});

test('a pinned range that another war room holds is refused naming that war room; its own Service is no conflict', () => {
  const pinnedChannel = (uid: string, min: number, max: number) =>
    toChannel({
      apiVersion: 'warroom.dev/v1alpha1',
      kind: 'IncidentChannel',
      metadata: { name: uid, uid },
      spec: {
        caseId: uid,
        ttl: '1h',
        participants: [{ handle: 'falcon', role: 'lead' }],
        calls: { enabled: true, turn: { relayPorts: { min, max } } },
      },
    });
  const holder: Channel = {
    ...channel('holder'),
    status: { phase: 'Ready', namespace: 'wr-holder', relayPorts: { min: 32010, max: 32019 } },
  };
  const pinned = channelState(pinnedChannel('pinned', 32000, 32019));
  assert.ok(pinned);
  const allocator = new RelayPortAllocator();
  const fromStatus = { coturnBlocks: () => [], channels: () => [holder] };
  assert.throws(
    () => allocator.blockFor(pinned, 'wr-pinned', fromStatus, 0),
    (err: Error) =>
      err instanceof RelayPortsTakenError &&
      /relayPorts 32000-32019 overlaps ports 32010-32019 held by the war room in namespace wr-holder \(IncidentChannel holder\)/.test(
        err.message,
      ),
  );
  const fromService = {
    coturnBlocks: () => [{ namespace: 'wr-other', block: { min: 32015, max: 32024 } }],
    channels: () => [],
  };
  assert.throws(() => allocator.blockFor(pinned, 'wr-pinned', fromService, 0), RelayPortsTakenError);
  const own = {
    coturnBlocks: () => [{ namespace: 'wr-pinned', block: { min: 32000, max: 32019 } }],
    channels: () => [],
  };
  assert.equal(allocator.blockFor(pinned, 'wr-pinned', own, 0), undefined, 'its own Service');
  assert.equal(
    allocator.blockFor(pinned, 'wr-pinned', { coturnBlocks: own.coturnBlocks, channels: () => [holder] }, 0),
    undefined,
    'its own Service holds the ports: another channel recording them (stale, its Service gone) does not stall it',
  );
  const movedPin = channelState(pinnedChannel('pinned', 32010, 32029));
  assert.ok(movedPin);
  assert.throws(
    () => allocator.blockFor(movedPin, 'wr-pinned', { coturnBlocks: own.coturnBlocks, channels: () => [holder] }, 0),
    RelayPortsTakenError,
    'a pin moved off the ports its Service holds is checked again',
  );
  const closed: Channel = { ...holder, status: { ...holder.status, phase: 'Closed' } };
  assert.equal(
    allocator.blockFor(pinned, 'wr-pinned', { coturnBlocks: () => [], channels: () => [closed] }, 0),
    undefined,
    'a closed war room holds nothing (its Service, while it lasts, still counts)',
  );
});
