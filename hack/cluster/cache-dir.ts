import { homedir } from 'node:os';
import { join } from 'node:path';

/** Outside the repository on purpose: CI clones afresh each run, and a cache inside the clone would always be cold. */
export function cacheDir(...parts: string[]): string {
  const base = process.env.WARROOM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'warroom');
  return join(base, ...parts);
}
