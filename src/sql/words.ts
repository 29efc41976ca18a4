// The words of a question, for matching it against table names and earlier questions: lower-cased runs of letters,
// digits and underscores, in any script.

export function wordsOf(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? []);
}
