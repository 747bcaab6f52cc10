import type { KubeObject } from '../../kube/objects.ts';
import type { Channel, ChannelState } from './channel.ts';
import { isTerminal } from './channel.ts';
import { allocateRelayPorts } from './context-from-spec.ts';
import { LABEL_COMPONENT } from './names.ts';

export interface PortBlock {
  min: number;
  max: number;
}

/** The relay ports a spec pins are held by another war room: a human must pick other ports (or none). */
export class RelayPortsTakenError extends Error {}

/** Longer than the apiserver takes to reclaim a leaked NodePort (three repair passes, 3 min apart). */
const REFUSED_BLOCK_MS = 12 * 60_000;
const NODE_PORT_TAKEN = /provided port is already allocated/;

/**
 * The TURN relay block of a channel whose spec names none. NodePorts are cluster-wide, and the coturn Services that
 * hold them are the truth: the block recorded in status (written only once its Service was accepted), else the block
 * this channel's own Service already holds (a crash before the status write), else a block that no coturn Service,
 * no other live channel's record and no recently refused block covers. Two channels picking one free block at once:
 * the apiserver refuses the second Service, which moves on next time. Reads the watch caches only.
 */
export class RelayPortAllocator {
  /**
   * Blocks the apiserver refused ("provided port is already allocated") although no Service holds them: a client
   * that died mid-request (an operator SIGKILLed while creating a Service) can leak NodePort allocations, which the
   * apiserver's repair loop frees only after several 3-minute passes. Until then, probe other blocks.
   */
  readonly #refused = new Map<number, number>();
  /**
   * Blocks handed out by this process (channel uid → block) whose Service the caches do not show yet. Channels
   * reconciled at the same time would otherwise pick the same free block: the apiserver refuses the second Service
   * only after the namespace's quota was charged for its NodePorts, and that charge stays until the quota controller
   * recounts (minutes), so the retry with another block is refused by the quota in the meantime.
   */
  readonly #handedOut = new Map<string, PortBlock>();

  /** Where blocks are allocated (`--relay-ports`); ports that specs pin are best kept outside it. */
  readonly #range: PortBlock | undefined;

  constructor(range?: PortBlock) {
    this.#range = range;
  }

  blockFor(
    channel: ChannelState,
    namespace: string,
    view: { coturnBlocks(): { namespace: string; block: PortBlock }[]; channels(): Channel[] },
    nowMs: number,
  ): PortBlock | undefined {
    if (!channel.spec.calls.enabled) return undefined;
    const pinned = channel.spec.calls.turn.relayPorts;
    if (pinned) {
      checkPinnedRangeFree(pinned, channel, namespace, view);
      return undefined;
    }
    const recorded = channel.status?.relayPorts;
    if (recorded) {
      this.#handedOut.delete(channel.uid);
      return recorded;
    }
    const services = view.coturnBlocks();
    const own = services.find((s) => s.namespace === namespace);
    if (own) {
      this.#handedOut.delete(channel.uid);
      return own.block;
    }
    const mine = this.#handedOut.get(channel.uid);
    if (mine) return mine;
    const taken: PortBlock[] = services.map((s) => s.block);
    const live = new Set<string>();
    for (const other of view.channels()) {
      if (other.metadata.uid) live.add(other.metadata.uid);
      if (other.metadata.uid === channel.uid || isTerminal(other.status)) continue;
      const block = other.status?.relayPorts ?? (other.parsed.ok ? other.parsed.spec.calls.turn.relayPorts : undefined);
      if (block) taken.push(block);
    }
    for (const [uid, block] of this.#handedOut) {
      if (live.has(uid)) taken.push(block);
      else this.#handedOut.delete(uid); // its channel is gone before its Service was made
    }
    for (const [min, until] of this.#refused) {
      if (until <= nowMs) this.#refused.delete(min);
      else taken.push({ min, max: min });
    }
    const block = allocateRelayPorts(channel.uid, taken, this.#range);
    this.#handedOut.set(channel.uid, block);
    return block;
  }

  /** After a failed apply: remember a block the apiserver says is taken, so the next pass picks another. */
  noteRefusal(block: PortBlock, error: string, nowMs: number): boolean {
    if (!NODE_PORT_TAKEN.test(error)) return false;
    this.#refused.set(block.min, nowMs + REFUSED_BLOCK_MS);
    for (const [uid, handed] of this.#handedOut) if (handed.min === block.min) this.#handedOut.delete(uid);
    return true;
  }
}

/**
 * A pinned range overlapping ports another war room holds (its coturn Service, or the block its status records) is
 * refused here, naming that war room: the apiserver would refuse the Service too, with only a port number, and only
 * after charging the namespace's quota for it. Channels that only pin the range, with no Service yet, are left to the
 * apiserver (the first Service wins).
 */
function checkPinnedRangeFree(
  pinned: PortBlock,
  channel: ChannelState,
  namespace: string,
  view: { coturnBlocks(): { namespace: string; block: PortBlock }[]; channels(): Channel[] },
): void {
  const overlaps = (b: PortBlock) => b.min <= pinned.max && pinned.min <= b.max;
  // Its own Service already holds exactly these ports: the apiserver gave them to this war room, so another channel's
  // record of them can only be stale (drift being re-applied), and must not stall a war room that is up.
  const services = view.coturnBlocks();
  if (services.some((s) => s.namespace === namespace && s.block.min === pinned.min && s.block.max === pinned.max)) {
    return;
  }
  const others = view.channels().filter((c) => c.metadata.uid !== channel.uid && !isTerminal(c.status));
  const holders = [
    ...services.filter((s) => s.namespace !== namespace),
    ...others.flatMap((c) =>
      c.status?.relayPorts && c.status.namespace ? [{ namespace: c.status.namespace, block: c.status.relayPorts }] : [],
    ),
  ];
  const held = holders.find((h) => overlaps(h.block));
  if (!held) return;
  const owner = others.find((c) => c.status?.namespace === held.namespace)?.metadata.name;
  throw new RelayPortsTakenError(
    `spec.calls.turn.relayPorts ${pinned.min}-${pinned.max} overlaps ports ${held.block.min}-${held.block.max} held by ` +
      `the war room in namespace ${held.namespace}${owner ? ` (IncidentChannel ${owner})` : ''}: pin a free range, ` +
      'or leave relayPorts unset and the operator allocates one',
  );
}

/**
 * What may free a relay block, as the watch caches see it: a coturn Service gone (its NodePorts are released), or a
 * channel that held one closed, expired or deleted. Channels that found no free block are woken by these instead of
 * waiting out their stall backoff (up to 15 min) after a war room closes.
 */
export function mayFreeRelayBlock(
  event: { service: KubeObject; deleted: boolean } | { channel: Channel; old: Channel | undefined; deleted: boolean },
): boolean {
  if ('service' in event) {
    return (
      event.deleted && event.service.kind === 'Service' && event.service.metadata.labels?.[LABEL_COMPONENT] === 'coturn'
    );
  }
  return event.deleted || (isTerminal(event.channel.status) && !isTerminal(event.old?.status));
}
