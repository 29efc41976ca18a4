// A deterministic embedding computed without any model (feature hashing): a text's words, stemmed and without common
// English function words, plus their character trigrams at a smaller weight, hashed into a vector scaled to unit
// length. Words dominate, so texts sharing words ("reclaims" and "reclaiming" count as one) come out close in cosine
// similarity and search behaves sensibly offline; trigrams catch what the crude stemmer misses. It knows nothing of
// meaning: synonyms are not close. Like a model its context window, it reads a text's first MAX_LOCAL_CHARACTERS
// only: it hashes every feature on the event loop every session shares, a few milliseconds for that many characters.

import { hash } from 'node:crypto';

export const DEFAULT_LOCAL_DIMENSIONS = 256;
export const MAX_LOCAL_CHARACTERS = 2048;

/** Of a word's weight, how much its trigrams together carry (as a vector's length); the stem carries the rest. */
const TRIGRAM_SHARE = 0.3;

/** Words so common in questions and prose that sharing them says nothing about a topic. */
const STOP_WORDS = new Set(
  ('a about after all also an and any are as at be been but by can could did do does doing for from had has have how i if in ' +
    'into is it its just may me might more most my no not of on or our shall should so some such than that the their them ' +
    'then there these they this those to too us was we were what when where which while who whom why will with would you your')
    .split(' '),
);

/** Suffixes stripped for the stem, longest first; a stem keeps at least three letters. */
const SUFFIXES = ['ations', 'ation', 'ments', 'ment', 'ings', 'ing', 'ies', 'ied', 'ers', 'er', 'es', 'ed', 'ly', 's'];

export function localEmbedding(whole: string, dimensions = DEFAULT_LOCAL_DIMENSIONS): number[] {
  const text = whole.slice(0, MAX_LOCAL_CHARACTERS);
  const vector = new Array<number>(dimensions).fill(0);
  for (const [feature, weight] of features(text)) {
    const digest = hash('sha256', feature, 'buffer');
    // One bucket and one sign per feature, so unrelated features cancel out on average instead of piling up.
    vector[digest.readUInt32BE(0) % dimensions]! += digest[4]! & 1 ? weight : -weight;
  }
  const length = Math.hypot(...vector);
  return length === 0 ? vector : vector.map((value) => value / length);
}

/** Each feature with its weight: a word repeated counts less than twice (1 + ln of its count). */
function features(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    if (!STOP_WORDS.has(word)) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const weights = new Map<string, number>();
  const add = (feature: string, weight: number): void => void weights.set(feature, (weights.get(feature) ?? 0) + weight);
  for (const [word, count] of counts) {
    const weight = 1 + Math.log(count);
    const grams = trigrams(word);
    add(`w:${stem(word)}`, grams.length === 0 ? weight : weight * (1 - TRIGRAM_SHARE));
    for (const gram of grams) add(`g:${gram}`, (weight * TRIGRAM_SHARE) / Math.sqrt(grams.length));
  }
  return weights;
}

function stem(word: string): string {
  const suffix = SUFFIXES.find((ending) => word.endsWith(ending) && word.length - ending.length >= 3);
  const stripped = suffix === undefined ? word : word.slice(0, -suffix.length);
  // "space" and "spaces", "store" and "stored" meet at "spac", "stor".
  return stripped.length > 3 && stripped.endsWith('e') ? stripped.slice(0, -1) : stripped;
}

function trigrams(word: string): string[] {
  const padded = `#${word}#`;
  return Array.from({ length: Math.max(0, padded.length - 2) }, (_, i) => padded.slice(i, i + 3));
}
