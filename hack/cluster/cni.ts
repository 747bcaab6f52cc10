import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeNetwork } from './host-net.ts';

/** Where Debian's containernetworking-plugins puts bridge, host-local and loopback. */
export const CNI_BIN_DIR = '/usr/lib/cni';
/** The conflist's network name (libcni names its cached results after it). */
export const CNI_NETWORK_NAME = 'warroom-real-node';

/**
 * Writes the bridge conflist containerd's CRI plugin loads from `confDir`. Pods get an address on the run's bridge and
 * routes ONLY to the pod subnet (on-link) and the service CIDR (via the bridge): no default route, and `ipMasq: false`,
 * so nothing a pod sends can leave the machine. `hairpinMode` lets a pod reach itself through its own Service. IPAM
 * state lives in the run's dir, not in /var/lib/cni. No portmap plugin: hostPorts are not needed and its
 * iptables chains would be one more thing to clean up.
 */
export async function writeCniConfig(
  confDir: string,
  ipamDataDir: string,
  net: NodeNetwork,
  serviceCidr: string,
): Promise<string> {
  await mkdir(confDir, { recursive: true });
  await mkdir(ipamDataDir, { recursive: true });
  const conflist = {
    cniVersion: '1.0.0',
    name: CNI_NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        isDefaultGateway: false,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDataDir,
          ranges: [[{ subnet: net.subnet, rangeStart: net.nodeIp.replace(/\.1$/, '.10'), gateway: net.nodeIp }]],
          routes: [{ dst: serviceCidr, gw: net.nodeIp }],
        },
      },
    ],
  };
  const file = join(confDir, '10-warroom.conflist');
  await writeFile(file, `${JSON.stringify(conflist, null, 2)}\n`);
  return file;
}
