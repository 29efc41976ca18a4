// JSON already written out as UTF-8: a provider's answer that a function hands on whole (pgai's chat completions,
// for one). A worker thread parsed it, checked it, masked it and wrote it out again
// (src/providers/answers/parse-worker.ts), so that the event loop every session shares neither parses nor writes it:
// 7.6 MB of `{}` handed on whole held every session for 1.5 s. A jsonb result that is one goes to the client, or into
// the statement's results table, as these bytes.

export class JsonText {
  constructor(readonly bytes: Uint8Array) {}
}
