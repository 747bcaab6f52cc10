// The real node's helper process: the apiserver forwarder (in-cluster clients → the loopback apiserver) and the
// local-volume provisioner. A process of its own, not a part of the harness's event loop, so a test that blocks its
// own loop (execFileSync, spawnSync, Atomics.wait) never stalls a pod's API calls or a PVC's binding.
// Usage: node node-sidecar.ts <config.json>   (config written 0600 by real-node.ts; it holds the admin token)
import { readFileSync } from 'node:fs';
import { AdminClient } from './admin-client.ts';
import { startLocalVolumeProvisioner } from './local-volumes.ts';
import { forwardTcp } from './tcp-forward.ts';

export interface SidecarConfig {
  /** Where in-cluster clients reach the apiserver (the node IP) and where it really listens (loopback). */
  listenHost: string;
  apiPort: number;
  server: string;
  caFile: string;
  token: string;
  nodeName: string;
  volumesDir: string;
}

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node-sidecar.ts <config.json>');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8')) as SidecarConfig;
const log = (m: string) => process.stderr.write(`[node-sidecar ${new Date().toISOString()}] ${m}\n`);
const forward = await forwardTcp(config.listenHost, config.apiPort, '127.0.0.1', config.apiPort);
log(`forwarding ${config.listenHost}:${config.apiPort} to 127.0.0.1:${config.apiPort}`);
const volumes = startLocalVolumeProvisioner({
  admin: new AdminClient(config.server, readFileSync(config.caFile, 'utf8'), config.token),
  nodeName: config.nodeName,
  dir: config.volumesDir,
  log,
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void Promise.all([volumes.stop(), forward.close()]).finally(() => process.exit(0));
  });
}
