// float4 values to check an encoder against PostgreSQL's own output: the hard cases of printing the shortest
// decimal, then any float4 at all, from bit patterns of a fixed sequence so that a failure can be run again.

export function float4Samples(count = 2000): number[] {
  // Ties between two shortest decimals, shortest decimals exactly on a rounding boundary, the exponent thresholds.
  const edges = [45029.0625, -16597.0625, 53730912, 685154432, 0.1, 1 / 3, 1e-5, 0.0001, 1.5e-7, 123456, 1234567, 999999.9, 1e20, 3.4e38, 1.17549435e-38, 1e-45];
  let seed = 42;
  const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  const patterns = Array.from(new Float32Array(new Uint32Array(Array.from({ length: count }, next)).buffer)).filter(Number.isFinite);
  return [...edges, ...patterns].map(Math.fround);
}

/** The values as an array literal that PostgreSQL reads back as exactly these float4s. */
export function float4Literal(values: number[], open = '{', close = '}'): string {
  return `${open}${values.map((value) => value.toPrecision(9)).join(',')}${close}`;
}
