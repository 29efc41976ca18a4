// float8 and float4 as PostgreSQL prints them (extra_float_digits 1, the default): the fewest significant digits
// that read back as the value, in exponent form below 1e-4 and from 1e15 (float4: 1e6).

/** `single`: the value as a float4 (rounded to one first). */
export function floatText(value: number, single: boolean): string {
  const exact = single ? Math.fround(value) : value;
  if (Number.isNaN(exact)) return 'NaN';
  if (!Number.isFinite(exact)) return exact > 0 ? 'Infinity' : '-Infinity';
  if (exact === 0) return Object.is(exact, -0) ? '-0' : '0';
  const shortest = single ? (exact < 0 ? '-' : '') + shortestFloat4(Math.abs(exact)) : exact.toExponential();
  const [mantissa, power] = shortest.split('e') as [string, string];
  const exponent = Number(power);
  if (exponent >= -4 && exponent < (single ? 6 : 15)) return String(Number(shortest));
  return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/**
 * The shortest decimal, in exponent form, as PostgreSQL's float4out (Ryū) picks it for a positive float4: one
 * strictly closer to the value than to either neighbouring float4 (a decimal exactly halfway does not count), the
 * nearest such of that length, a tie going to the even digit. A length that has such a decimal is followed by longer
 * ones that have one too, and nine digits always do; most float4s need eight or nine, so lengths are tried from
 * the long end. Halfway points of float4s are exact in a double.
 */
function shortestFloat4(value: number): string {
  const [below, above] = float4Neighbours(value);
  const bounds = { low: (below + value) / 2, high: (value + above) / 2 };
  return scaledShortest(value, bounds) ?? exactShortest(value, bounds);
}

interface Bounds {
  low: number;
  high: number;
}

/**
 * The shortest decimal found with the value scaled to an integer of each length in a double: fast, but a few
 * units of the last place off, so undefined when a decimal is too close to a bound, or the value to a tie, to tell.
 */
function scaledShortest(value: number, { low, high }: Bounds): string | undefined {
  let power = Math.floor(Math.log10(value));
  if (10 ** power > value) power--;
  else if (10 ** (power + 1) <= value) power++;
  let shortest: string | undefined;
  for (let length = 9; length >= 1; length--) {
    const scale = 10 ** (length - 1 - power);
    const [scaled, lowest, highest] = [value * scale, low * scale, high * scale];
    const margin = highest * 1e-12;
    const fraction = scaled - Math.floor(scaled);
    if (Math.abs(fraction - 0.5) < margin) return undefined;
    const nearest = Math.floor(scaled) + (fraction < 0.5 ? 0 : 1);
    // Below the length's first unit, the next decimal down has a digit more: the exact way spells it.
    if (nearest - 1 < 10 ** (length - 1)) return undefined;
    let unit: number | undefined;
    for (const candidate of [nearest, nearest - 1, nearest + 1]) {
      if (Math.abs(candidate - lowest) < margin || Math.abs(candidate - highest) < margin) return undefined;
      if (candidate > lowest && candidate < highest) {
        unit = candidate;
        break;
      }
    }
    if (unit === undefined) break;
    shortest = spell(unit, length, power);
  }
  return shortest;
}

/** The shortest decimal found with decimal strings, exact where scaledShortest cannot tell. */
function exactShortest(value: number, { low, high }: Bounds): string {
  const inside = (text: string): boolean => {
    const decimal = Number(text);
    return decimal > low && decimal < high;
  };
  const ofLength = (length: number): string | undefined => {
    const [mantissa, power] = value.toExponential(length - 1).split('e') as [string, string];
    const nearest = Number(mantissa.replace('.', ''));
    const spelled = (unit: number): string => spell(unit, length, Number(power));
    if (inside(spelled(nearest))) {
      // toExponential rounds a tie away from zero; PostgreSQL to the even digit.
      return nearest % 2 === 1 && isTie(value, length) && inside(spelled(nearest - 1)) ? spelled(nearest - 1) : spelled(nearest);
    }
    return [nearest - 1, nearest + 1].map(spelled).find(inside);
  };
  let shortest = ofLength(9)!;
  for (let length = 8; length >= 1; length--) {
    const shorter = ofLength(length);
    if (shorter === undefined) break;
    shortest = shorter;
  }
  return shortest;
}

/** Whether the value lies exactly halfway between two decimals of `length` significant digits. */
function isTie(value: number, length: number): boolean {
  if (!value.toExponential(length).replace(/e.*/, '').endsWith('5')) return false;
  const digits = value.toExponential(100).replace(/e.*/, '').replace('.', '');
  return digits[length] === '5' && /^0*$/.test(digits.slice(length + 1));
}

/** `unit` as `length` significant digits times 10^power, in exponent form; a unit one digit off moves the power. */
function spell(unit: number, length: number, power: number): string {
  let digits = String(unit);
  if (digits.length > length) {
    digits = digits.slice(0, length);
    power++;
  } else if (digits.length < length) {
    digits += '9';
    power--;
  }
  return `${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${power}`;
}

const float = new Float32Array(1);
const bits = new Uint32Array(float.buffer);

function float4Neighbours(value: number): [number, number] {
  float[0] = value;
  const own = bits[0]!;
  bits[0] = own - 1;
  const below = float[0]!;
  bits[0] = own + 1;
  return [below, float[0]!];
}
