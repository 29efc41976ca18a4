// The tokens a streamed answer has written so far, counted before its provider says (it does only at the end): at
// least one for each piece it streams (a piece with text holds a token or more), and at least one for each
// MOST_CHARACTERS_PER_TOKEN characters. An answer within its max_tokens never counts past it; one whose provider
// ignores the limit is caught by either count, a piece of a token or a few characters after it passes.

/** Twice the four characters a token that estimates assume (tokens.ts): no answer's tokens are longer on average. */
const MOST_CHARACTERS_PER_TOKEN = 8;

export class AnswerCount {
  private pieces = 0;
  private characters = 0;

  add(piece: string): void {
    this.pieces++;
    this.characters += piece.length;
  }

  get tokens(): number {
    return Math.max(this.pieces, Math.ceil(this.characters / MOST_CHARACTERS_PER_TOKEN));
  }
}
