// Secrets a session writes out as string constants in its calls (SELECT pg_llm_add_model(…, 'sk-…', …),
// api_key => 'sk-…', extra_headers => '{"Authorization": …}'; src/sql/secret-literals.ts finds them): the server gets
// a reference the proxy holds each under (held-values.ts), evaluates it as it would the constant (a jsonb argument's
// as a JSON string), and hands it back among the call's arguments, where the proxy puts the secret back. Its log and pg_stat_activity see only the reference, which means nothing in any other
// session. SQL given for an argument declared SQL (pg_llm_estimate's) reaches the server with its own secrets held the
// same way, and so does the statement a function then runs from it: the calls it finds there are resolved here too.
// A secret the client binds as a parameter of a secret argument is held the same way, at Bind (held-parameters.ts).
// A reference stands for its secret only in calls of the function the client wrote it out for: code of another role
// that the statement runs (a view's call) may copy it from current_query(), and must not register it into a model
// that every role may call (review31), nor hand it to any function the client did not give it to.

import type { FunctionDeclaration } from '../../functions/declaration.js';
import { qualifiedName } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { credentialsIn } from '../crypto/config-secrets.js';
import { runParseTask } from '../sql/parse-task.js';
import { STATEMENT_SECRETS, type SecretLiteral } from '../sql/secret-literals.js';
import { secretSyntaxError } from '../sql/secret-syntax-errors.js';
import { HeldValues, holdable, replaced } from './held-values.js';
import type { WrittenAfter } from './secret-resets.js';

/** A secret held, and the functions (schema.name) whose calls the client wrote it out in, or bound it for. */
interface HeldSecret {
  value: string;
  writtenFor: readonly string[];
}

/** pgai's client_config argument, and the keys of it that openai_client_config holds when they carry a secret. */
const CLIENT_CONFIG = 'client_config';
const CONFIG_SECRETS: Record<string, 'key' | 'url'> = { base_url: 'url', default_headers: 'key', default_query: 'key' };

const sameSecret = (held: HeldSecret, secret: HeldSecret): boolean => held.value === secret.value && held.writtenFor.join() === secret.writtenFor.join();

export class SessionLiteralSecrets {
  private readonly secrets = new HeldValues<HeldSecret>();

  /** The query string with each secret literal replaced by a reference; a reference written out stays as it is. */
  hold(sql: string, literals: SecretLiteral[]): string {
    return replaced(
      sql,
      literals.flatMap(({ value, start, end, json, writtenFor, statements }) => {
        if (statements) {
          const held = this.hold(value, statements);
          return held === value ? [] : [{ start, end, text: dollarQuoted(held) }];
        }
        if (HeldValues.isReference(value)) return [];
        const reference = this.holdSecret(value, [writtenFor]);
        return [{ start, end, text: `'${json ? JSON.stringify(reference) : reference}'` }];
      }),
    );
  }

  /**
   * The reference the server gets for a secret the client wrote out, or bound as a parameter (held-parameters.ts), in
   * a call of one of `writtenFor`. Held until 64 newer ones push it out, long after its statement: no longer than a setting's
   * key may be.
   */
  holdSecret(value: string, writtenFor: readonly string[]): string {
    return this.secrets.reuse({ value: holdable('a secret argument', value), writtenFor }, sameSecret);
  }

  /** SQL a function runs for its caller (pg_llm_estimate's), with the secrets written out in its calls held. */
  async held(sql: string): Promise<string> {
    const found = await runParseTask(STATEMENT_SECRETS, sql);
    // Without a position: it would count in the function's SQL, not in the client's query string.
    if ('refused' in found) throw secretSyntaxError(found.refused);
    return this.hold(sql, found.literals);
  }

  /** Whether the proxy holds any secret the session wrote out. */
  get holding(): boolean {
    return this.secrets.size > 0;
  }

  /** The secrets the session wrote out are let go of (DISCARD ALL: secret-resets.ts), but those `kept`. */
  forget(kept: WrittenAfter): void {
    this.secrets.forget((_, reference) => !kept(reference));
  }

  /**
   * pgai's client_config as openai_client_config builds it, with its secrets (headers, query parameters, a URL's
   * credentials) held: the config reaches the server as the call's result, which its log and the code of other roles
   * that the statement runs could read (pg_temp.pg_llm_call_results). Each reference stands for its secret only under
   * the same key of a client_config argument.
   */
  heldConfig(config: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(config).map(([key, value]) => {
        const kind = CONFIG_SECRETS[key];
        if (!kind || (kind === 'url' && credentialsIn(key, value).length === 0)) return [key, value];
        const secret = typeof value === 'string' ? value : JSON.stringify(value);
        return [key, this.secrets.reuse({ value: holdable('a secret argument', secret), writtenFor: [configKey(key)] }, sameSecret)];
      }),
    );
  }

  /**
   * A call's arguments (in declaration order) with the secrets its references stand for, and the names of those that
   * held one.
   */
  resolve(declaration: FunctionDeclaration, values: unknown[]): { values: unknown[]; held: Set<string> } {
    const held = new Set<string>();
    const resolved = values.map((value, i) => {
      const argument = declaration.arguments[i];
      if (!argument?.secret) return value;
      let opened = value;
      if (typeof value === 'string' && HeldValues.isReference(value)) {
        held.add(argument.name);
        opened = this.opened(value, qualifiedName(declaration), argument.type === 'jsonb', argument.name, `the ${argument.name} argument of ${declaration.name}`);
      }
      if (argument.name !== CLIENT_CONFIG || typeof opened !== 'object' || opened === null || Array.isArray(opened)) return opened;
      const config = { ...(opened as Record<string, unknown>) };
      for (const [key, kind] of Object.entries(CONFIG_SECRETS)) {
        const member = config[key];
        if (typeof member !== 'string' || !HeldValues.isReference(member)) continue;
        held.add(argument.name);
        config[key] = this.opened(member, configKey(key), kind === 'key', key, `${key} of the ${argument.name} argument of ${declaration.name}`);
      }
      return config;
    });
    return { values: resolved, held };
  }

  /** Whether a call's arguments (in declaration order) hold a reference that resolve would open. */
  opens(declaration: FunctionDeclaration, values: unknown[]): boolean {
    return values.some((value, i) => {
      const argument = declaration.arguments[i];
      if (!argument?.secret) return false;
      if (typeof value === 'string') return HeldValues.isReference(value);
      if (argument.name !== CLIENT_CONFIG || typeof value !== 'object' || value === null) return false;
      const config = value as Record<string, unknown>;
      return Object.keys(CONFIG_SECRETS).some((key) => typeof config[key] === 'string' && HeldValues.isReference(config[key]));
    });
  }

  /** The secret `reference` stands for, when it was held for `writtenFor` (its JSON value when `json`); `name` is what holds it. */
  private opened(reference: string, writtenFor: string, json: boolean, name: string, what: string): unknown {
    const secret = this.secrets.get(reference);
    if (secret?.writtenFor.includes(writtenFor)) return json ? jsonValue(secret.value, what) : secret.value;
    if (secret !== undefined) {
      throw new PgError('42501', `${what} is a secret this session wrote out in a call of another function`, {
        hint: `Write ${name} itself in this call: a view or function of another role that your statement runs cannot take a secret you wrote out for one call into another.`,
      });
    }
    throw new PgError('22023', `${what} is a reference this session's statements did not hand the server`, {
      hint: `Write ${name} itself, or pass it as a parameter: the proxy keeps a secret written out in a call and hands the server a reference to it, which means nothing in another session (nor in this one after many other secrets).`,
    });
  }
}

/** Text as a constant that means it whatever the session's standard_conforming_strings: $pg_llm$…$pg_llm$. */
function dollarQuoted(text: string): string {
  let tag = '$pg_llm$';
  for (let n = 1; text.includes(tag); n++) tag = `$pg_llm_${n}$`;
  return `${tag}${text}${tag}`;
}

/** A jsonb constant the proxy held: its value, or the server's error for it, which quotes none of it. */
function jsonValue(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PgError('22P02', 'invalid input syntax for type json', { detail: `${what[0]!.toUpperCase()}${what.slice(1)} is not JSON.` });
  }
}

/** What a reference held for a key of a client_config stands for it in. */
function configKey(key: string): string {
  return `${CLIENT_CONFIG}.${key}`;
}
