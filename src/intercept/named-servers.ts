// The servers a client named itself in its session: the URLs its statements give in a server's place (as it wrote
// them, before the proxy held their secrets back: src/sql/server-names.ts), the parameters it bound there, and pgai's
// server settings in its startup parameters. A server a call's arguments or a session setting chose is used with a key
// the session handed the proxy, and a setting's server at all, only when the client named it
// (functions/pgai/endpoint.ts): the code of other roles that the client's statements run (a view's call, a
// set_config a function makes) is not the client, and must not route its keys or its prompts.
//
// A value names a server when it is a URL and nothing else, or a JSON object with a URL under a server's key
// (base_url, host, endpoint, api_endpoint), at any depth. A URL anywhere else names nothing, however it is written:
// what a client binds or writes beside its calls (a user's URL stored in a column, a document to embed) is often
// someone else's text. A URL is named for one kind of server (the API of the setting or function that named it):
// pointing a keyless API (Ollama) at someone's server does not choose it for the session's OpenAI key.
// pg_llm.trusted_owners' values are noted as they are, for that setting alone (src/sql/function-check.ts). A RESET of
// it (RESET ALL, SET … TO DEFAULT) outside a transaction block forgets those the statements gave: the client took its
// trust back, and a view of a role it named once setting it again later (set_config) is not the client's choice. One
// given for a transaction (SET LOCAL, or in a block a rollback may take back) counts only until the session is idle.
// DISCARD ALL forgets what the statements named, a rolled-back SET LOCAL's among them: only the startup parameters' stay.
// The names of key settings the client's calls give (api_key_name => 'my_key', a config builder's too) are noted the
// same way, each for the API of its call: a key the session set under a name of its own goes only to an API the
// client named it for, not to whichever API a view of another role names it for (functions/pgai/endpoint.ts).

import { isKeyNameKind } from '../../functions/named-server.js';
import { chosenSettingKind, SERVER_KEYS, TRUSTED_OWNERS, type ServerKind, type ServerNames } from '../sql/server-names.js';
import { startupSettings } from './startup-options.js';
import { settingCase } from '../sql/setting-case.js';

/** Longer URLs are not noted: a call naming one needs a key of its own (api_key) or no held secret. */
const MAX_URL = 2048;
/** Longer key names are not noted: a custom setting's name is rarely more than a few words. */
const MAX_KEY_NAME = 256;
/** The most URLs a session keeps, the oldest let go first. */
const MAX_NAMED = 256;
/** A URL and nothing else. */
const WHOLE_URL = new RegExp(`^[a-z][a-z0-9+.-]{0,32}://[^'"\\s\\\\$]{0,${MAX_URL}}$`, 'i');
/** A host (with a port, a path) and nothing else, written without a scheme, as Ollama's functions take one (over http://). */
const WHOLE_HOST = new RegExp(`^[a-z0-9][a-z0-9.-]{0,252}(?::\\d{1,5})?(?:/[^'"\\s\\\\$?#@]{0,${MAX_URL}})?$`, 'i');

export class NamedServers {
  /** Each URL the client's statements named, with its kind, as `kind url`. */
  private readonly urls = new Set<string>();
  /** Those its startup parameters named, the session's choice until it ends. */
  private readonly given = new Set<string>();
  /**
   * The values of pg_llm.trusted_owners the client gave for a transaction only (SET LOCAL, set_config(…, true), any
   * SET in a transaction block, which a rollback takes back), with the count of ReadyForQuery messages when noted: the
   * client's choice until the session is next idle (review R5).
   */
  private readonly trustedForTransaction = new Map<string, number>();
  /** The client set pg_llm.trusted_owners since it last reset it: the startup options' value is no longer its choice. */
  private startupTrustWithdrawn = false;

  /**
   * Notes pgai's server settings, and pg_llm.trusted_owners, given in the startup parameters: in options
   * (PGOPTIONS='-c ai.openai_base_url=…') or on their own.
   */
  constructor(
    startup: ReadonlyMap<string, string>,
    /** The session's ReadyForQuery messages so far, and the number of the last with status idle. */
    private readonly readies: { readonly received: number; readonly lastIdle: number },
  ) {
    const settings = [...startup].flatMap(([name, value]) => (name === 'options' ? startupSettings(value) : [[name, value] as const]));
    for (const [name, value] of settings) {
      const kind = chosenSettingKind(name);
      if (kind) this.noteValue(value, kind, this.given);
    }
  }

  /** Notes the servers a statement names in its text; `inBlock`, whether its statement of that index runs in a transaction block. */
  noteStatement(names: ServerNames, inBlock: (statement: number) => boolean): void {
    for (const { value, kind, statement, local } of names.values) {
      if (kind !== TRUSTED_OWNERS) this.noteValue(value, kind);
      else if (!(local || inBlock(statement))) {
        // The client's latest value replaces those before it, its startup options' too until it resets the setting:
        // trust it withdrew is not its choice when another role's code sets it again (review R6).
        this.forgetNotedTrust(new Set());
        this.startupTrustWithdrawn = true;
        this.noteValue(value, kind);
      } else if (value.length <= MAX_URL) {
        this.trustedForTransaction.delete(value);
        this.trustedForTransaction.set(value, this.readies.received);
        if (this.trustedForTransaction.size > MAX_NAMED) this.trustedForTransaction.delete(this.trustedForTransaction.keys().next().value!);
      }
    }
  }

  /** Notes the servers named by a Bind's parameters that stand in a server's place ($1 is number 1). */
  noteParameters(section: Buffer, places: ServerNames['parameters']): void {
    if (places.length === 0) return;
    // Its format codes, their count first, then the values, each after its length (-1: NULL).
    let at = 2 + 2 * section.readInt16BE(0);
    const count = section.readInt16BE(at);
    at += 2;
    for (let number = 1; number <= count && at + 4 <= section.length; number++) {
      const length = section.readInt32BE(at);
      at += 4;
      if (length <= 0) continue;
      for (const place of places) if (place.number === number) this.noteValue(section.toString('utf8', at, at + length), place.kind);
      at += length;
    }
  }

  /** Whether the client named `url` for servers of this kind (an API of pgai's, or 'model'), or set pg_llm.trusted_owners to it. */
  has(url: string, kind: ServerKind): boolean {
    const withdrawn = kind === TRUSTED_OWNERS && this.startupTrustWithdrawn;
    if (this.urls.has(`${kind} ${url}`) || (!withdrawn && this.given.has(`${kind} ${url}`))) return true;
    const noted = kind === TRUSTED_OWNERS ? this.trustedForTransaction.get(url) : undefined;
    return noted !== undefined && this.readies.lastIdle <= noted;
  }

  /** Whether the client's statements named any server (or set pg_llm.trusted_owners). */
  get holding(): boolean {
    return this.urls.size > 0;
  }

  /**
   * The servers the client's statements named are forgotten (DISCARD ALL: secret-resets.ts): a pooler's next client of
   * the connection did not name them, and a view of another role pointing a setting at one must not route its keys.
   */
  forget(): void {
    this.urls.clear();
    this.trustedForTransaction.clear();
    this.startupTrustWithdrawn = false;
  }

  /** The values of pg_llm.trusted_owners the client's statements gave are forgotten, but those `kept`: it reset the setting. */
  forgetTrustedOwners(kept: ReadonlySet<string>): void {
    this.forgetNotedTrust(kept);
    // Reset, the setting is the startup options' value again.
    this.startupTrustWithdrawn = false;
  }

  /** Forgets the values of pg_llm.trusted_owners the client's statements gave, but those `kept`. */
  private forgetNotedTrust(kept: ReadonlySet<string>): void {
    for (const named of this.urls) {
      if (named.startsWith(`${TRUSTED_OWNERS} `) && !kept.has(named.slice(TRUSTED_OWNERS.length + 1))) this.urls.delete(named);
    }
    for (const value of this.trustedForTransaction.keys()) if (!kept.has(value)) this.trustedForTransaction.delete(value);
  }

  private noteValue(value: string, kind: ServerKind, into = this.urls): void {
    // A key setting's name, as the setting is looked up: in lower case.
    if (isKeyNameKind(kind)) {
      if (value.length <= MAX_KEY_NAME) this.add(settingCase(value), kind, into);
      return;
    }
    if (kind === TRUSTED_OWNERS) {
      if (value.length <= MAX_URL) this.add(value, kind, into);
      return;
    }
    if (!value.includes('://')) {
      if (WHOLE_HOST.test(value)) this.add(value, kind, into);
      return;
    }
    if (WHOLE_URL.test(value)) return this.add(value, kind, into);
    let config: unknown;
    try {
      config = JSON.parse(value);
    } catch {
      return;
    }
    this.noteConfig(config, kind, into);
  }

  /** The URLs under a server's key in a JSON config, at any depth (walked without recursion: the client chose the depth). */
  private noteConfig(config: unknown, kind: ServerKind, into: Set<string>): void {
    const pending = [config];
    while (pending.length > 0) {
      const node = pending.pop();
      if (node === null || typeof node !== 'object') continue;
      for (const [key, value] of Object.entries(node)) {
        if (typeof value === 'string' && SERVER_KEYS.has(key.toLowerCase()) && WHOLE_URL.test(value)) this.add(value, kind, into);
        else pending.push(value);
      }
    }
  }

  private add(url: string, kind: ServerKind, into: Set<string>): void {
    const named = `${kind} ${url}`;
    into.delete(named);
    into.add(named);
    if (into.size > MAX_NAMED) into.delete(into.values().next().value!);
  }
}
