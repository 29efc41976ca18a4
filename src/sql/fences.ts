// The markdown code blocks in a model's answer, found in one pass. The answer is whatever a role's provider sends,
// so the search must stay linear: a lazy pattern (```…\n[\s\S]*?```) is retried from every ``` to the end of an
// answer whose fences never close, which made 120 kB of '```x' take seconds on the event loop.

export interface Fence {
  /** The letters right after the opening ``` (spaces and tabs skipped), as written: `sql`, `json`, or ''. */
  language: string;
  /** Between the opening line's end and the closing ```. */
  body: string;
  /** Where the block starts (its opening ```) and ends (after its closing ```) in the answer. */
  start: number;
  end: number;
}

const TICKS = '```';

/**
 * Every block opened by ``` and the rest of its line, closed by the next ``` after that line. When an opening has no
 * line end or no closing after it, no later opening has one either, so the scan stops there.
 */
export function fencesIn(text: string): Fence[] {
  const fences: Fence[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf(TICKS, from);
    if (start < 0) break;
    const lineEnd = text.indexOf('\n', start + TICKS.length);
    if (lineEnd < 0) break;
    const close = text.indexOf(TICKS, lineEnd + 1);
    if (close < 0) break;
    fences.push({ language: languageAt(text, start + TICKS.length, lineEnd), body: text.slice(lineEnd + 1, close), start, end: close + TICKS.length });
    from = close + TICKS.length;
  }
  return fences;
}

function languageAt(text: string, from: number, lineEnd: number): string {
  let at = from;
  while (at < lineEnd && (text[at] === ' ' || text[at] === '\t')) at++;
  const letters = at;
  while (at < lineEnd && /[A-Za-z]/.test(text[at]!)) at++;
  return text.slice(letters, at);
}
