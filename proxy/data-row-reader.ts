// Reads a DataRow as its bytes come from the upstream (a BodyReader of the framer), so that a row need not be held
// whole to be judged: each value's length is known before its bytes, and a row its owner refuses at one of them is
// let go unread from there on, however big the rest.

import type { BodyReader } from './framer.js';

/**
 * Asked of each value before its bytes come (`length` -1: NULL), with the values of the row before it; false refuses
 * the row, whose remaining bytes are then skipped.
 */
export type ValueCheck = (column: number, length: number, before: ReadonlyArray<Buffer | null>) => boolean;

export class DataRowReader implements BodyReader {
  private readonly values: Array<Buffer | null> = [];
  /** The column count (2 bytes) or a value's length (4), which may come split across chunks. */
  private readonly header = Buffer.alloc(4);
  private headerFill = 0;
  private counted = false;
  private value: Buffer | undefined;
  private valueFill = 0;
  private refused = false;

  /** `done` gets the row's values once it is read, or undefined when it was refused. */
  constructor(
    private readonly check: ValueCheck,
    private readonly done: (values: Array<Buffer | null> | undefined) => void,
  ) {}

  read(bytes: Buffer): void {
    let offset = 0;
    while (offset < bytes.length && !this.refused) {
      if (this.value !== undefined) {
        const copied = bytes.copy(this.value, this.valueFill, offset);
        this.valueFill += copied;
        offset += copied;
        if (this.valueFill === this.value.length) this.keep(this.value);
        continue;
      }
      const size = this.counted ? 4 : 2;
      const copied = bytes.copy(this.header, this.headerFill, offset, offset + size - this.headerFill);
      this.headerFill += copied;
      offset += copied;
      if (this.headerFill < size) return;
      this.headerFill = 0;
      if (!this.counted) {
        this.counted = true;
        continue;
      }
      const length = this.header.readInt32BE(0);
      if (!this.check(this.values.length, length, this.values)) this.refused = true;
      else if (length < 0) this.values.push(null);
      else if (length === 0) this.values.push(Buffer.alloc(0));
      else this.value = Buffer.allocUnsafe(length);
    }
  }

  end(): void {
    this.done(this.refused ? undefined : this.values);
  }

  private keep(value: Buffer): void {
    this.values.push(value);
    this.value = undefined;
    this.valueFill = 0;
  }
}
