import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** One thing an image is built from: a file (hashed by content and mode) or a pinned value (a version, a flag). */
export type Input = { key: string; file: string } | { key: string; value: string };

/**
 * The cache key of an image: a sha256 over every input, sorted by key, so the same inputs always give the same key and
 * any changed byte, version, mode or parent image gives a new one.
 */
export async function hashInputs(inputs: Input[]): Promise<string> {
  const lines: string[] = [];
  for (const input of [...inputs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if ('file' in input) {
      const mode = (await stat(input.file)).mode & 0o777;
      lines.push(`${input.key}\0file\0${mode.toString(8)}\0${await hashFile(input.file)}`);
    } else {
      lines.push(`${input.key}\0value\0${input.value}`);
    }
  }
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Every regular file under `path` (or `path` itself), as inputs keyed by their path relative to `root`. */
export async function treeInputs(root: string, path: string): Promise<Input[]> {
  const full = join(root, path);
  const info = await stat(full);
  if (!info.isDirectory()) return [{ key: relative(root, full), file: full }];
  const inputs: Input[] = [];
  for (const entry of await readdir(full, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    inputs.push({ key: relative(root, file), file });
  }
  return inputs;
}
