// npm run chart:sync — copies the generated files a Helm chart cannot reach by itself into charts/warroom: the CRD
// (crds/, which Helm installs before the templates) and, once it exists, the Grafana dashboard. test/unit/chart.test.ts
// fails while a copy differs from its source, so the chart never ships a stale CRD.

import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHART_COPIES: { from: string; to: string; optional: boolean }[] = [
  {
    from: 'crds/incidentchannels.warroom.dev.yaml',
    to: 'charts/warroom/crds/incidentchannels.warroom.dev.yaml',
    optional: false,
  },
  {
    from: 'deploy/grafana/warroom-dashboard.json',
    to: 'charts/warroom/dashboards/warroom-dashboard.json',
    optional: true,
  },
];

const root = fileURLToPath(new URL('../', import.meta.url));

if (import.meta.main) {
  for (const { from, to, optional } of CHART_COPIES) {
    if (!existsSync(root + from)) {
      if (optional) continue;
      throw new Error(`${from} is missing: run npm run gen:crd first`);
    }
    await mkdir(dirname(root + to), { recursive: true });
    await copyFile(root + from, root + to);
    process.stderr.write(`copied ${from} -> ${to}\n`);
  }
}
