// Run by bench/operator-memory.ts as its own process: imports the given modules one after the other, in the order
// the operator loads them, and prints what each adds to RSS and V8's heap (after a full GC) — where the floor with
// no channels comes from. Shared dependencies are charged to the first module that loads them.
import { readFileSync } from 'node:fs';

const gc = (globalThis as { gc?: () => void }).gc;
const mib = (bytes: number) => (bytes / 1048576).toFixed(1).padStart(6);
function now() {
  gc?.();
  const status = readFileSync('/proc/self/status', 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  const anon = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  return { rss, anon, heap: process.memoryUsage().heapUsed };
}

let last = now();
console.log(
  `  ${mib(last.rss)} MiB RSS  node itself (no type stripping: this script and the modules are JavaScript, as in the image)`,
);
for (const spec of process.argv.slice(2)) {
  await import(spec);
  const after = now();
  console.log(
    `  +${mib(after.rss - last.rss)} MiB RSS (anon +${mib(after.anon - last.anon)}, V8 heap used +${mib(after.heap - last.heap)})  ${spec}`,
  );
  last = after;
}
console.log(`  ${mib(last.rss)} MiB RSS after every import`);
