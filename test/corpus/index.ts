// Malformed IncidentChannel manifests and what must happen to each. One YAML file per case under cases/, directly
// appliable with kubectl; its header comment states the expectation:
//
//   # expect: admission | stalled | pruned
//   # operation: create | update        admission only (default create). An update file holds two documents: the
//                                       original (valid, applied first) and the change the apiserver must refuse.
//   # change: valid | invalid            update only (default valid): valid when the change alone is fine and only the
//                                       transition is refused (a CEL rule on oldSelf); invalid when the change breaks
//                                       a rule every write must pass (the apiserver checks updates too)
//   # message: <substring>              admission: of the apiserver's error; stalled: of the zod validation message
//   # reason: InvalidSpec               stalled: the Stalled condition's reason
//   # pruned: spec.a, spec.b[0].c       pruned: paths the apiserver drops (fieldValidation Ignore or Warn)
//   # strict-message: <substring>       pruned: the error when the client asks for fieldValidation=Strict instead
//   # why: <one line>                   what the case is about
//
// `admission`: the real apiserver must reject it (schema, CEL, or a CEL transition rule on UPDATE).
// `stalled`:   admitted by the CRD, rejected by zod in the reconciler (Stalled=True with the given reason).
// `pruned`:    admitted (unknown fields are dropped, not refused) and valid; the listed paths are gone once stored.
// metadata.name is always `corpus-<file name>`, so cases can be applied side by side.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const CORPUS_DIR = fileURLToPath(new URL('./cases/', import.meta.url));

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [key: string]: unknown };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

interface CaseBase {
  /** The file name without `.yaml`. */
  id: string;
  file: string;
  why: string;
  /** For an update case, the change; otherwise the object to create. */
  manifest: Manifest;
}

export interface AdmissionCase extends CaseBase {
  expect: 'admission';
  operation: 'create' | 'update';
  /** Update cases: the valid object to create first. */
  original?: Manifest;
  /** Update cases: whether the change would be admitted on its own (only the transition is refused). */
  changeAlone?: 'valid' | 'invalid';
  message: string;
}

export interface StalledCase extends CaseBase {
  expect: 'stalled';
  reason: string;
  message: string;
}

export interface PrunedCase extends CaseBase {
  expect: 'pruned';
  prunedPaths: string[];
  strictMessage: string;
}

export type CorpusCase = AdmissionCase | StalledCase | PrunedCase;

const HEADER_KEYS = new Set(['expect', 'operation', 'change', 'message', 'reason', 'pruned', 'strict-message', 'why']);

function parseHeader(text: string, file: string): Map<string, string> {
  const header = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const m = /^#\s*([a-z-]+):\s*(.*?)\s*$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    if (!HEADER_KEYS.has(m[1])) throw new Error(`${file}: unknown header key "${m[1]}"`);
    if (header.has(m[1])) throw new Error(`${file}: header key "${m[1]}" given twice`);
    header.set(m[1], m[2]);
  }
  return header;
}

function required(header: Map<string, string>, key: string, file: string): string {
  const value = header.get(key);
  if (!value) throw new Error(`${file}: header "${key}" is required for this case`);
  return value;
}

function asManifest(doc: unknown, file: string, id: string): Manifest {
  const m = doc as Partial<Manifest> | null;
  if (!m || typeof m !== 'object' || typeof m.metadata?.name !== 'string') {
    throw new Error(`${file}: each document needs metadata.name`);
  }
  if (m.metadata.name !== `corpus-${id}`) throw new Error(`${file}: metadata.name must be corpus-${id}`);
  return m as Manifest;
}

export function loadCase(file: string): CorpusCase {
  const id = basename(file, '.yaml');
  const text = readFileSync(file, 'utf8');
  const header = parseHeader(text, file);
  // YAML 1.1, as kubectl reads it: an unquoted yes/off is a boolean there, and must be one here too.
  const docs = parseAllDocuments(text, { version: '1.1' }).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
    return d.toJS() as unknown;
  });
  const why = required(header, 'why', file);
  const expect = required(header, 'expect', file);
  const operation = header.get('operation') ?? 'create';
  if (operation !== 'create' && operation !== 'update') throw new Error(`${file}: operation must be create or update`);
  if (operation === 'update' && expect !== 'admission') throw new Error(`${file}: only admission cases are updates`);
  const change = header.get('change') ?? 'valid';
  if (change !== 'valid' && change !== 'invalid') throw new Error(`${file}: change must be valid or invalid`);
  if (header.has('change') && operation !== 'update') throw new Error(`${file}: change is for update cases only`);
  const expectedDocs = operation === 'update' ? 2 : 1;
  if (docs.length !== expectedDocs)
    throw new Error(`${file}: expected ${expectedDocs} YAML document(s), got ${docs.length}`);
  const manifests = docs.map((d) => asManifest(d, file, id));
  const manifest = manifests[manifests.length - 1] as Manifest;

  switch (expect) {
    case 'admission':
      return {
        id,
        file,
        why,
        expect,
        operation,
        manifest,
        ...(operation === 'update' ? { original: manifests[0], changeAlone: change } : {}),
        message: required(header, 'message', file),
      };
    case 'stalled':
      return {
        id,
        file,
        why,
        expect,
        manifest,
        reason: required(header, 'reason', file),
        message: required(header, 'message', file),
      };
    case 'pruned':
      return {
        id,
        file,
        why,
        expect,
        manifest,
        prunedPaths: required(header, 'pruned', file)
          .split(',')
          .map((p) => p.trim()),
        strictMessage: required(header, 'strict-message', file),
      };
    default:
      throw new Error(`${file}: expect must be admission, stalled or pruned, not "${expect}"`);
  }
}

/** Every case, sorted by id. */
export function loadCorpus(dir: string = CORPUS_DIR): CorpusCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => loadCase(join(dir, f)));
}

/** The value at a path like `spec.participants[0].email`, or undefined; for checking that pruned fields are gone. */
export function valueAtPath(obj: unknown, path: string): unknown {
  const keys = path.match(/[^.[\]]+/g) ?? [];
  let cur: unknown = obj;
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
