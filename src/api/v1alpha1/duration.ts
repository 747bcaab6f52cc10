// Go `time.ParseDuration` semantics, because the CRD checks `spec.ttl` with CEL's `duration()`, which is that parser:
// a string the apiserver accepts must mean the same number of milliseconds here, and one it rejects (including int64
// nanosecond overflow) must be rejected here too.

const NANOS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

// int64 nanoseconds; Go allows one more on the negative side.
const MAX_NANOS = (1n << 63n) - 1n;
const COMPONENT = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/;

/**
 * Milliseconds for a Go duration (`72h`, `90m`, `1h30m`, `1.5h`, `-2m`, `300ms`), or undefined where Go would fail
 * (no unit, unknown unit, empty, overflow).
 */
export function parseDuration(text: string): number | undefined {
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;

  let totalNanos = 0n;
  while (rest !== '') {
    const m = COMPONENT.exec(rest);
    if (!m) return undefined;
    const [whole, intDigits = '', fracDigits, unitText = ''] = m;
    if (intDigits === '' && !fracDigits) return undefined;
    const unit = NANOS_PER_UNIT[unitText];
    if (unit === undefined) return undefined;
    totalNanos += BigInt(intDigits || '0') * unit;
    if (fracDigits) {
      // Go truncates the fraction towards zero at nanosecond precision.
      totalNanos += (BigInt(fracDigits) * unit) / 10n ** BigInt(fracDigits.length);
    }
    if (totalNanos > (negative ? MAX_NANOS + 1n : MAX_NANOS)) return undefined;
    rest = rest.slice(whole.length);
  }
  const ms = Number(totalNanos) / 1e6;
  return negative ? -ms : ms;
}

/** The shortest h/m/s spelling of a whole number of seconds (`5400000` → `1h30m`); sub-second parts are dropped. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const totalSeconds = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const text = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
  return text === '' ? '0s' : `${sign}${text}`;
}
