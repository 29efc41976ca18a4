// The servers a client named itself in its session: the URLs written in the statements it sent (as it wrote them,
// before the proxy held their secrets back), in the parameters it bound to them, and in its startup options. A key
// the session handed the proxy (SET ai.openai_api_key, or one written out in a call) is sent to a server chosen by a
// call's arguments or a session setting only when the client named that server (functions/pgai/endpoint.ts): the
// code of other roles that the client's statements run (a view's call, a set_config a function makes) is not the
// client, and must not route a key PostgreSQL itself never shows it.
//
// A URL names a server where it stands as a whole value: a string constant ('…', $$…$$, "…" as a SET's value), a
// parameter, a JSON string under a server's key (base_url, host, endpoint, api_endpoint), or a setting's value in
// the startup options. Not a URL inside a prompt or a message, nor in a comment: what a client asks a model about is
// often someone else's text (review34: a document mentioning another role's server, bound as a prompt, let that
// role's view send the session's key there).

/** The characters of a URL's scheme, read back from its "://". */
const SCHEME = /[a-z0-9+.-]/i;
/** What ends a URL written in SQL or JSON: a quote, white space, a backslash or a dollar quote. */
const URL_END = /['"\s\\$]/;
const MAX_SCHEME = 32;
/** Longer URLs are not noted: a call naming one needs a key of its own (api_key) or no held secret. */
const MAX_URL = 2048;
/** The most URLs a session keeps, the oldest let go first. */
const MAX_NAMED = 256;
/** A JSON key naming a server, just before the opening quote of its value. */
const SERVER_KEY = /"(?:base_url|host|endpoint|api_endpoint)"\s*:\s*"$/i;
/** A parameter that is a URL and nothing else. */
const WHOLE_URL = new RegExp(`^[a-z][a-z0-9+.-]{0,${MAX_SCHEME}}://[^'"\\s\\\\$]{0,${MAX_URL}}$`, 'i');
/** A SET's value given as a quoted name, just before its opening quote. */
const SET_VALUE = /(?:=|\bTO)\s*"$/i;

export class NamedServers {
  private readonly urls = new Set<string>();

  /**
   * Notes the URLs that name a server in text the client sent (a statement; `options`: its startup options); linear
   * in its length, and nothing is done for text without "://".
   */
  note(text: string, options = false): void {
    for (let at = text.indexOf('://'); at >= 0; at = text.indexOf('://', at + 3)) {
      let start = at;
      while (start > 0 && at - start < MAX_SCHEME && SCHEME.test(text[start - 1]!)) start--;
      if (start === at || !/[a-z]/i.test(text[start]!)) continue;
      let end = at + 3;
      while (end < text.length && end - start <= MAX_URL && !URL_END.test(text[end]!)) end++;
      if (end - start <= MAX_URL && namesServer(text, start, end, options)) this.add(text.slice(start, end));
    }
  }

  /** Notes the URLs that name a server in a Bind's parameter section, read only when it holds a "://". */
  noteBytes(section: Buffer): void {
    if (section.indexOf('://') < 0) return;
    // Its format codes, their count first, then the values, each after its length (-1: NULL).
    let at = 2 + 2 * section.readInt16BE(0);
    const count = section.readInt16BE(at);
    at += 2;
    for (let index = 0; index < count && at + 4 <= section.length; index++) {
      const length = section.readInt32BE(at);
      at += 4;
      if (length <= 0) continue;
      const value = section.subarray(at, at + length);
      at += length;
      if (value.indexOf('://') < 0) continue;
      const text = value.toString('utf8');
      if (WHOLE_URL.test(text)) this.add(text);
      else this.note(text);
    }
  }

  has(url: string): boolean {
    return this.urls.has(url);
  }

  private add(url: string): void {
    this.urls.delete(url);
    this.urls.add(url);
    if (this.urls.size > MAX_NAMED) this.urls.delete(this.urls.values().next().value!);
  }
}

/** Whether the URL at text[start, end) stands as a whole value that names a server (above). */
function namesServer(text: string, start: number, end: number, options: boolean): boolean {
  const before = text[start - 1];
  const after = text[end];
  if (before === "'" || before === '$') return after === before;
  if (before === '"') return after === '"' && (SERVER_KEY.test(text.slice(Math.max(0, start - 32), start)) || SET_VALUE.test(text.slice(Math.max(0, start - 8), start)));
  return options && before === '=' && (after === undefined || /\s/.test(after));
}
