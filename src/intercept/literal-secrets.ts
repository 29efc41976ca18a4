// Secrets a session writes out as string constants in its calls (SELECT pg_llm_add_model(…, 'sk-…', …),
// api_key => 'sk-…'; src/sql/secret-literals.ts finds them): the server gets a reference the proxy holds each under
// (held-values.ts), evaluates it as it would the constant, and hands it back among the call's arguments, where the
// proxy puts the secret back. Its log and pg_stat_activity see only the reference, which means nothing in any other
// session.

import type { FunctionDeclaration } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import type { HeldSpan } from '../sql/api-key-statements.js';
import { HeldValues, replaced } from './held-values.js';

export class SessionLiteralSecrets {
  private readonly secrets = new HeldValues<string>();

  /** The query string with each secret literal replaced by a reference; a reference written out stays as it is. */
  hold(sql: string, literals: HeldSpan[]): string {
    const spans = literals.filter(({ value }) => !HeldValues.isReference(value));
    return replaced(sql, spans.map(({ value, start, end }) => ({ start, end, text: `'${this.secrets.reuse(value)}'` })));
  }

  /** A call's arguments (in declaration order) with the secrets its references stand for. */
  resolve(declaration: FunctionDeclaration, values: unknown[]): unknown[] {
    return values.map((value, i) => {
      const argument = declaration.arguments[i];
      if (!argument?.secret || typeof value !== 'string' || !HeldValues.isReference(value)) return value;
      const secret = this.secrets.get(value);
      if (secret !== undefined) return secret;
      throw new PgError('22023', `the ${argument.name} argument of ${declaration.name} is a reference this session's statements did not hand the server`, {
        hint: `Write ${argument.name} itself, or pass it as a parameter: the proxy keeps a secret written out in a call and hands the server a reference to it, which means nothing in another session (nor in this one after many other secrets).`,
      });
    });
  }
}
