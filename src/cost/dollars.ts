// US dollars as the proxy's messages show them: cents from a dollar up, three significant digits below.

export function dollars(usd: number): string {
  if (usd === 0) return '$0';
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${Number(usd.toPrecision(3))}`;
}
