import { isIPv4, isIPv6 } from 'node:net';

/** An inclusive address range in the `first-last` form coturn's allowed/denied-peer-ip options take. */
export interface IpRange {
  family: 4 | 6;
  first: string;
  last: string;
}

const IPV4_BITS = 32;
const IPV6_BITS = 128;

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  const octets: string[] = [];
  for (let shift = 24n; shift >= 0n; shift -= 8n) octets.push(String((value >> shift) & 0xffn));
  return octets.join('.');
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
  // An embedded dotted quad (::ffff:10.0.0.1) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBigInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

/** Fully expanded lower-case groups without zero compression: unambiguous for every coturn version's parser. */
function bigIntToIpv6(value: bigint): string {
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return groups.join(':');
}

/**
 * Parses `a.b.c.d/n`, `x:y::/n` or a bare address (a /32 or /128) into the inclusive range coturn understands.
 * Throws on anything malformed: coturn before 4.11 silently skips a peer rule it cannot parse, which would
 * quietly open the relay to that range.
 */
export function cidrToRange(cidr: string): IpRange {
  const [address = '', prefixText, extra] = cidr.trim().split('/');
  if (extra !== undefined) throw new Error(`invalid CIDR ${JSON.stringify(cidr)}`);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) throw new Error(`invalid CIDR ${JSON.stringify(cidr)}: not an IP address`);
  const bits = family === 4 ? IPV4_BITS : IPV6_BITS;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) {
    throw new Error(`invalid CIDR ${JSON.stringify(cidr)}: bad prefix length`);
  }
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) throw new Error(`invalid CIDR ${JSON.stringify(cidr)}: prefix longer than ${bits}`);
  const value = family === 4 ? ipv4ToBigInt(address) : ipv6ToBigInt(address);
  const hostBits = BigInt(bits - prefix);
  const hostMask = (1n << hostBits) - 1n;
  const first = value & ~hostMask;
  const last = first | hostMask;
  const format = family === 4 ? bigIntToIpv4 : bigIntToIpv6;
  return { family, first: format(first), last: format(last) };
}

/** `first-last`, or the single address when the range holds one. */
export function formatRange(range: IpRange): string {
  return range.first === range.last ? range.first : `${range.first}-${range.last}`;
}
