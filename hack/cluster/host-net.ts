import { randomBytes, randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { run } from './exec.ts';

/** The real node's own network: one bridge, one /24, the node IP on the bridge. Nothing else on the host changes. */
export interface NodeNetwork {
  bridge: string;
  /** e.g. 10.88.37.0/24 */
  subnet: string;
  /** The bridge's address: node IP, pods' gateway, CoreDNS's listen address. */
  nodeIp: string;
}

const GUARD_COMMENT = 'warroom-real-node: pods never leave the machine';

/** The IPv4 networks the host already uses (routes and addresses), so a new pod subnet can avoid them. */
async function usedNetworks(): Promise<[number, number][]> {
  const ranges: [number, number][] = [];
  const routes = JSON.parse((await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout) as {
    dst: string;
  }[];
  for (const r of routes) if (r.dst && r.dst !== 'default') ranges.push(cidrRange(r.dst));
  const links = JSON.parse((await run('ip', ['-j', '-4', 'addr', 'show'])).stdout) as {
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  for (const l of links) for (const a of l.addr_info ?? []) ranges.push(cidrRange(`${a.local}/${a.prefixlen}`));
  return ranges;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function cidrRange(cidr: string): [number, number] {
  const [ip = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipToInt(ip) / size) * size;
  return [start, start + size - 1];
}

/**
 * Creates a bridge with a name unique to this run and its address in a free /24 of 10.88.0.0/16 (checked against the
 * host's routes and addresses), plus a host route for the service CIDR through the bridge with the bridge's address as
 * source: the host reaches ClusterIPs (kube-proxy DNATs them to pod IPs) and pods answer the bridge address, which
 * they can reach, rather than the host's uplink address, which they cannot.
 */
export async function createNodeNetwork(serviceCidr: string): Promise<NodeNetwork> {
  const used = await usedNetworks();
  const taken = (c: string) => {
    const [a, b] = cidrRange(c);
    return used.some(([x, y]) => a <= y && x <= b && !(x === 0 && y === 2 ** 32 - 1));
  };
  let third = -1;
  for (let attempt = 0; attempt < 50 && third < 0; attempt++) {
    const n = randomInt(1, 255);
    if (!taken(`10.88.${n}.0/24`)) third = n;
  }
  if (third < 0) throw new Error('no free /24 in 10.88.0.0/16 for the real node (50 random tries)');
  const subnet = `10.88.${third}.0/24`;
  const nodeIp = `10.88.${third}.1`;
  // ≤ 15 characters (IFNAMSIZ), unique per run so two clusters' bridges never collide.
  const bridge = `wr-${randomBytes(4).toString('hex')}`;
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  try {
    await run('ip', ['addr', 'add', `${nodeIp}/24`, 'dev', bridge]);
    await run('ip', ['link', 'set', bridge, 'up']);
    await run('ip', ['route', 'add', serviceCidr, 'dev', bridge, 'src', nodeIp]);
  } catch (err) {
    await run('ip', ['link', 'del', bridge], { allowFail: true });
    throw err;
  }
  return { bridge, subnet, nodeIp };
}

/**
 * Defence in depth for "nothing a pod does leaves the machine": pods have no default route by construction (see
 * cni.ts), and this rule drops anything arriving from the bridge that the host would route elsewhere (a pod with
 * NET_ADMIN adding its own route, say). Traffic between pods, to ClusterIPs and to the host itself is untouched.
 * It lives in the mangle table's FORWARD, which the kernel runs before the filter table's: a NetworkPolicy engine
 * (kube-router) puts its own chain first in filter FORWARD and ACCEPTs compliant traffic there, which would skip a
 * guard placed further down that chain.
 */
export async function addForwardGuard(net: NodeNetwork): Promise<void> {
  await run('iptables', guardRule('-I', GUARD_TABLE, net));
}

const GUARD_TABLE = 'mangle';

export async function removeForwardGuard(net: NodeNetwork): Promise<void> {
  // The filter table too: where harness versions before the mangle guard put it (a SIGKILLed older run's leftover).
  for (const table of [GUARD_TABLE, 'filter']) {
    for (let i = 0; i < 5; i++) {
      const r = await run('iptables', guardRule('-D', table, net), { allowFail: true });
      if (r.code !== 0) break;
    }
  }
}

/** Whether the guard is in place for this bridge (the isolation tests check it before trusting a probe). */
export async function forwardGuardPresent(net: NodeNetwork): Promise<boolean> {
  const r = await run('iptables', ['-t', GUARD_TABLE, '-C', ...guardRule('-I', GUARD_TABLE, net).slice(3)], {
    allowFail: true,
  });
  return r.code === 0;
}

function guardRule(op: '-I' | '-D', table: string, net: NodeNetwork): string[] {
  return [
    '-t',
    table,
    op,
    'FORWARD',
    '-i',
    net.bridge,
    '!',
    '-o',
    net.bridge,
    '-m',
    'comment',
    '--comment',
    GUARD_COMMENT,
    '-j',
    'DROP',
  ];
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/**
 * ClusterIP traffic from a pod to another pod is DNATed and routed by the host, so forwarding must be on. Returns the
 * value before (to restore on stop, or after a killed run from the lock file).
 */
export async function enableForwarding(): Promise<string> {
  const before = (await readFile(IP_FORWARD, 'utf8')).trim();
  if (before !== '1') await writeFile(IP_FORWARD, '1');
  return before;
}

export async function restoreForwarding(before: string): Promise<void> {
  if (before === '0' || before === '1') await writeFile(IP_FORWARD, before);
}

/** Whether bridged pod-to-pod replies pass through iptables (br_netfilter), so ClusterIP DNAT works without SNAT. */
export async function bridgeNetfilterOn(): Promise<boolean> {
  try {
    return (await readFile('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}

/** Deletes the bridge and every veth still attached to it (a pod's veth pair goes with either end). */
export async function deleteNodeNetwork(net: NodeNetwork): Promise<void> {
  const ports = await run('ip', ['-j', 'link', 'show', 'master', net.bridge], { allowFail: true });
  if (ports.code === 0 && ports.stdout.trim()) {
    for (const p of JSON.parse(ports.stdout) as { ifname: string }[]) {
      await run('ip', ['link', 'del', p.ifname], { allowFail: true });
    }
  }
  await run('ip', ['link', 'del', net.bridge], { allowFail: true });
}

/**
 * Removes a dead run's bridge known only by its name (from its lock record, or found by leftoverNodeBridges): its
 * forward guard, its pods' veths and the bridge; its service route goes with the link.
 */
export async function removeLeftoverBridge(bridge: string): Promise<void> {
  const net = { bridge, subnet: '', nodeIp: '' };
  await removeForwardGuard(net);
  await deleteNodeNetwork(net);
}

/**
 * Bridges of real-node runs (`wr-<8 hex>`, see createNodeNetwork). Only one real node runs per machine, so to the run
 * holding the lock any of them is a leftover whose lock record was lost (removed by hand, or claimed by a clean-up
 * that did not know it): its service route would make this run's `ip route add` fail with "File exists".
 */
export async function leftoverNodeBridges(): Promise<string[]> {
  return (await hostLinks()).filter((name) => /^wr-[0-9a-f]{8}$/.test(name));
}

/** Links currently on the host (names), for before/after comparisons. */
export async function hostLinks(): Promise<string[]> {
  const out = await run('ip', ['-j', 'link', 'show']);
  return (JSON.parse(out.stdout) as { ifname: string }[]).map((l) => l.ifname);
}
