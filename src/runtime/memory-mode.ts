// V8's --optimize-for-size, on only while the process is idle. With it, full GCs compact fragmented old-space pages
// and the memory reducer returns them to the OS; without it V8 kept the pages a burst filled (building 500 war rooms,
// a relist of every cache) long after their objects died: at 500 channels 70 MiB of heap for 46 MiB of objects.
// Always on, it cost the operator ~30 % more CPU while it built 500 war rooms (compacting GCs during the burst,
// 24.9 → 32.7 s): switched on only once the work has stopped, the same build took 25.4 s and 500 Ready channels after
// a full resync were 139 MiB of RSS instead of 173 (bench/operator-memory, one run each). V8 reads the flag at every
// GC (Heap::ShouldOptimizeForMemoryUsage), so it can be switched at run time.
import { setFlagsFromString } from 'node:v8';

/**
 * Checks `isIdle` every `everyMs`: two idle checks in a row switch --optimize-for-size on, one busy check switches
 * it off. Returns a stop function (which leaves the flag off).
 */
export function optimizeForSizeWhileIdle(
  isIdle: () => boolean,
  everyMs = 5000,
  setFlags: (flags: string) => void = setFlagsFromString,
): () => void {
  let on = false;
  let idleBefore = false;
  const set = (value: boolean) => {
    if (value === on) return;
    setFlags(value ? '--optimize-for-size' : '--no-optimize-for-size');
    on = value;
  };
  const timer = setInterval(() => {
    const idle = isIdle();
    set(idle && idleBefore);
    idleBefore = idle;
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    set(false);
  };
}
