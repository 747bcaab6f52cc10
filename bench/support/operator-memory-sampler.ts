// Loaded into the measured operator with `--import` by bench/operator-memory.ts (never by production): every
// MEMORY_SAMPLE_MS it appends one JSON line to MEMORY_SAMPLES — /proc's RSS (anonymous / file-backed),
// process.memoryUsage() and V8's heap spaces — so the bench can print the breakdown at any moment and the peak.
import { appendFileSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env.MEMORY_SAMPLES;
const every = Number(process.env.MEMORY_SAMPLE_MS ?? 2000);

export interface MemorySample {
  t: number;
  rss: number;
  anon: number;
  fileBacked: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { size: number; used: number }>;
  /** CPU time the process has used so far (user + system), in ms: what a memory setting costs in GC work. */
  cpuMs: number;
}

function sample(): MemorySample {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  const m = process.memoryUsage();
  const spaces: MemorySample['spaces'] = {};
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_size > 0) spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  }
  return {
    t: Date.now(),
    rss: kib('VmRSS'),
    anon: kib('RssAnon'),
    fileBacked: kib('RssFile'),
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    spaces,
    cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  };
}

if (file) {
  const write = () => appendFileSync(file, `${JSON.stringify(sample())}\n`);
  write();
  setInterval(write, every).unref();
}
