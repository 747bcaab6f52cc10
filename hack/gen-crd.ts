// npm run gen:crd — regenerates crds/incidentchannels.warroom.dev.yaml from the zod schema. test/unit/api/crd.test.ts
// fails while the committed file differs from what this writes.
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CRD_NAME, renderCrdYaml } from '../src/api/v1alpha1/crd.ts';

const out = fileURLToPath(new URL(`../crds/${CRD_NAME}.yaml`, import.meta.url));
await mkdir(fileURLToPath(new URL('../crds/', import.meta.url)), { recursive: true });
await writeFile(out, renderCrdYaml());
process.stderr.write(`wrote ${out}\n`);
