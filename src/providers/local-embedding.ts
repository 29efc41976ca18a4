// A deterministic embedding computed without any model: the hashed counts of a text's words and character
// trigrams (feature hashing), scaled to unit length. Texts that share words come out close in cosine similarity, so
// search over it behaves sensibly offline; it knows nothing of meaning (synonyms are not close).

import { createHash } from 'node:crypto';

export const DEFAULT_LOCAL_DIMENSIONS = 64;

export function localEmbedding(text: string, dimensions = DEFAULT_LOCAL_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const features = [...words, ...words.flatMap((word) => trigrams(word))];
  for (const feature of features) {
    const digest = createHash('sha256').update(feature).digest();
    // One bucket and one sign per feature, so unrelated features cancel out on average instead of piling up.
    vector[digest.readUInt32BE(0) % dimensions]! += digest[4]! & 1 ? 1 : -1;
  }
  const length = Math.hypot(...vector);
  return length === 0 ? vector : vector.map((value) => value / length);
}

function trigrams(word: string): string[] {
  const padded = `#${word}#`;
  return Array.from({ length: Math.max(0, padded.length - 2) }, (_, i) => padded.slice(i, i + 3));
}
