import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdminClient } from './admin-client.ts';

/** The `standard` StorageClass's provisioner on a real node (see startLocalVolumeProvisioner). */
export const LOCAL_VOLUME_PROVISIONER = 'warroom.local/real-node';
const STORAGE_CLASS = 'standard';

interface Claim {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string };
  spec: {
    storageClassName?: string;
    volumeName?: string;
    accessModes?: string[];
    resources?: { requests?: { storage?: string } };
  };
}
interface Volume {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { local?: { path: string } };
  status?: { phase?: string };
}

/**
 * Provisions PersistentVolumes for the real node: a `local` volume (a directory under the run's dir) per pending PVC
 * of the `standard` class, pre-bound to its claim and pinned to the node, and deletes a volume and its directory once
 * its claim is gone. Why not the controller-manager's host-path provisioner the kwok cluster uses: it makes root-owned
 * 0750 directories in /tmp, and the kubelet applies no fsGroup to hostPath volumes, so a non-root Synapse or Postgres
 * could not write to them; `local` volumes get fsGroup ownership, and they live under the run's dir like everything else.
 * A poll loop (1 s) rather than a watch: a handful of claims per test, and it stops when the cluster does.
 */
export function startLocalVolumeProvisioner(o: {
  admin: AdminClient;
  nodeName: string;
  dir: string;
  log: (m: string) => void;
}): { stop(): Promise<void> } {
  let stopping = false;
  const reported = new Set<string>();
  const pass = async () => {
    const claims = (await o.admin.getJson<{ items: Claim[] }>('/api/v1/persistentvolumeclaims'))?.items ?? [];
    for (const c of claims) {
      if (c.spec.volumeName || c.metadata.deletionTimestamp || c.spec.storageClassName !== STORAGE_CLASS) continue;
      const name = `local-${c.metadata.uid}`;
      const path = join(o.dir, name);
      await mkdir(path, { recursive: true, mode: 0o755 });
      await o.admin.create('/api/v1/persistentvolumes', {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': LOCAL_VOLUME_PROVISIONER } },
        spec: {
          capacity: { storage: c.spec.resources?.requests?.storage ?? '1Gi' },
          accessModes: c.spec.accessModes ?? ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Delete',
          storageClassName: STORAGE_CLASS,
          volumeMode: 'Filesystem',
          local: { path },
          claimRef: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            namespace: c.metadata.namespace,
            name: c.metadata.name,
            uid: c.metadata.uid,
          },
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.nodeName] }] },
              ],
            },
          },
        },
      });
    }
    const volumes = (await o.admin.getJson<{ items: Volume[] }>('/api/v1/persistentvolumes'))?.items ?? [];
    for (const v of volumes) {
      const ours = v.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] === LOCAL_VOLUME_PROVISIONER;
      if (!ours || (v.status?.phase !== 'Released' && v.status?.phase !== 'Failed')) continue;
      const path = v.spec.local?.path;
      if (path?.startsWith(`${o.dir}/`)) await rm(path, { recursive: true, force: true });
      const res = await o.admin.call('DELETE', `/api/v1/persistentvolumes/${v.metadata.name}`);
      if (res.status >= 300 && res.status !== 404) throw new Error(`DELETE pv ${v.metadata.name}: ${res.status}`);
    }
  };
  const loop = (async () => {
    while (!stopping) {
      try {
        await pass();
      } catch (err) {
        const msg = (err as Error).message;
        if (!reported.has(msg)) o.log(`local volume provisioner: ${msg}`);
        reported.add(msg);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
    },
  };
}
