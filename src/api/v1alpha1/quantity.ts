// Kubernetes resource quantities (`500m`, `1Gi`, `2e3`), enough to compare two of them the way CEL's `quantity()`
// does. Comparison is exact (rational arithmetic on BigInt): with floats, `0.1G` and `100M` would not compare equal.

/**
 * The non-negative subset of the apiserver's quantity grammar that the CRD accepts. Exponents are small integers so
 * that every matching string is also accepted by `resource.ParseQuantity` (and so by CEL's `quantity()`), and so that
 * exact arithmetic on it stays cheap.
 */
export const QUANTITY_PATTERN = '^(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]{1,2}))?$';

const QUANTITY = new RegExp(QUANTITY_PATTERN);

const DECIMAL_EXPONENT: Record<string, number> = { '': 0, n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_EXPONENT: Record<string, bigint> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };

interface Rational {
  num: bigint;
  den: bigint;
}

function toRational(text: string): Rational {
  if (!QUANTITY.test(text)) throw new Error(`invalid quantity ${JSON.stringify(text)}`);
  const [, intPart = '', fracPart = '', suffix = ''] = /^([0-9]*)\.?([0-9]*)(.*)$/.exec(text) ?? [];
  let num = BigInt(`${intPart}${fracPart}` || '0');
  let den = 10n ** BigInt(fracPart.length);
  const binary = BINARY_EXPONENT[suffix];
  let exp10: number;
  if (binary !== undefined) {
    num *= 2n ** binary;
    exp10 = 0;
  } else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
    exp10 = Number(suffix.slice(1));
  } else {
    exp10 = DECIMAL_EXPONENT[suffix] ?? 0;
  }
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den *= 10n ** BigInt(-exp10);
  return { num, den };
}

/** True when the text is a quantity the CRD accepts. */
export function isQuantity(text: string): boolean {
  return QUANTITY.test(text);
}

/** The quantity's value in base units (bytes, cores); throws on anything the CRD pattern rejects. */
export function parseQuantity(text: string): number {
  const { num, den } = toRational(text);
  return Number(num) / Number(den);
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b` (CEL's `compareTo`). */
export function compareQuantities(a: string, b: string): -1 | 0 | 1 {
  const x = toRational(a);
  const y = toRational(b);
  const left = x.num * y.den;
  const right = y.num * x.den;
  return left < right ? -1 : left > right ? 1 : 0;
}
