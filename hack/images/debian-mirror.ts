import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DebianMirror {
  /** e.g. http://deb.debian.org/debian */
  main: string;
  /** e.g. http://deb.debian.org/debian-security */
  security: string;
}

interface SourceEntry {
  uri: string;
  suites: string[];
}

/**
 * The Debian mirror apt is configured with on this machine (the only one reachable), read from
 * /etc/apt/sources.list and sources.list.d (one-line and deb822 formats). WARROOM_DEBIAN_MIRROR overrides it.
 */
export async function debianMirror(suite: string, aptDir = '/etc/apt'): Promise<DebianMirror> {
  const entries = await sourceEntries(aptDir);
  const override = process.env.WARROOM_DEBIAN_MIRROR;
  const main = override ?? entries.find((e) => e.suites.includes(suite))?.uri;
  if (!main) {
    throw new Error(`no Debian mirror for ${suite} in ${aptDir}/sources.list*; set WARROOM_DEBIAN_MIRROR`);
  }
  const security =
    entries.find((e) => e.suites.includes(`${suite}-security`))?.uri ??
    main.replace(/\/debian\/?$/, '/debian-security');
  return { main: main.replace(/\/$/, ''), security: security.replace(/\/$/, '') };
}

async function sourceEntries(aptDir: string): Promise<SourceEntry[]> {
  const files = [join(aptDir, 'sources.list')];
  const dir = join(aptDir, 'sources.list.d');
  const names = await readdir(dir).catch(() => [] as string[]);
  files.push(...names.sort().map((n) => join(dir, n)));
  const entries: SourceEntry[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (file.endsWith('.sources')) entries.push(...deb822Entries(text));
    else if (file.endsWith('.list')) entries.push(...oneLineEntries(text));
  }
  return entries;
}

function oneLineEntries(text: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw
      .replace(/#.*/, '')
      .replace(/\[[^\]]*\]/, '')
      .trim();
    const [type, uri, suite] = line.split(/\s+/);
    if (type === 'deb' && uri && suite) entries.push({ uri, suites: [suite] });
  }
  return entries;
}

function deb822Entries(text: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line.trim());
      if (m?.[1] && m[2] !== undefined && !line.trimStart().startsWith('#')) fields.set(m[1].toLowerCase(), m[2]);
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes') === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) entries.push({ uri, suites });
  }
  return entries;
}
