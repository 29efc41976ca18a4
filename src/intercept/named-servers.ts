// The servers a client named itself in its session: the URLs written in the statements it sent (as it wrote them,
// before the proxy held their secrets back), in the parameters it bound to them, and in its startup options. A key
// the session handed the proxy (SET ai.openai_api_key, or one written out in a call) is sent to a server chosen by a
// call's arguments or a session setting only when the client named that server (functions/pgai/endpoint.ts): the
// code of other roles that the client's statements run (a view's call, a set_config a function makes) is not the
// client, and must not route a key PostgreSQL itself never shows it.

/** The characters of a URL's scheme, read back from its "://". */
const SCHEME = /[a-z0-9+.-]/i;
/** What ends a URL written in SQL or JSON: a quote, white space, a backslash or a dollar quote. */
const URL_END = /['"\s\\$]/;
const MAX_SCHEME = 32;
/** Longer URLs are not noted: a call naming one needs a key of its own (api_key) or no held secret. */
const MAX_URL = 2048;
/** The most URLs a session keeps, the oldest let go first. */
const MAX_NAMED = 256;

export class NamedServers {
  private readonly urls = new Set<string>();

  /** Notes the URLs in text the client sent; linear in its length, and nothing is done for text without "://". */
  note(text: string): void {
    for (let at = text.indexOf('://'); at >= 0; at = text.indexOf('://', at + 3)) {
      let start = at;
      while (start > 0 && at - start < MAX_SCHEME && SCHEME.test(text[start - 1]!)) start--;
      if (start === at || !/[a-z]/i.test(text[start]!)) continue;
      let end = at + 3;
      while (end < text.length && end - start <= MAX_URL && !URL_END.test(text[end]!)) end++;
      if (end - start <= MAX_URL) this.add(text.slice(start, end));
    }
  }

  /** Notes the URLs in bytes the client sent (a Bind's parameters), read only when they hold a "://". */
  noteBytes(bytes: Buffer): void {
    if (bytes.indexOf('://') >= 0) this.note(bytes.toString('utf8'));
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
