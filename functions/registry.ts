// Every SQL function an extension installs: pg_llm's (with the APIs of the other systems it replaces, all in public)
// and pgai's (in schema ai). The catalog installs one upstream function per entry: a stub for those the proxy serves,
// which the interception engine looks up here, and the function itself for those the server runs (SQL bodies).

import { askFunctions } from './ask.js';
import { chatFunctions } from './chat.js';
import { isSqlFunction, type Declaration, type FunctionDeclaration, type Signature, type SqlFunctionDeclaration } from './declaration.js';
import { knowledgeFunctions } from './knowledge.js';
import { observabilityFunctions } from './observability.js';
import { anthropicFunctions } from './pgai/anthropic.js';
import { chunkingFunctions } from './pgai/chunking.js';
import { cohereFunctions } from './pgai/cohere.js';
import { ollamaFunctions } from './pgai/ollama.js';
import { openAiFunctions } from './pgai/openai.js';
import { vectorizerConfigFunctions } from './pgai/vectorizer-config.js';
import { vectorizerCreateFunctions } from './pgai/vectorizer-create.js';
import { vectorizerEmbedFunctions } from './pgai/vectorizer-embed.js';
import { vectorizerManageFunctions } from './pgai/vectorizer-manage.js';
import { voyageAiFunctions } from './pgai/voyageai.js';
import { estimateFunctions } from './estimate.js';
import { explainQueryFunctions } from './explain-query.js';
import { generateQueryFunctions } from './generate-query.js';
import { parallelFunctions } from './parallel.js';
import { reportFunctions } from './reports.js';
import { schemaDiscoveryFunctions } from './schema-discovery.js';
import { semanticOperatorFunctions } from './semantic-operators.js';
import { sessionFunctions } from './sessions.js';
import { text2sqlFunctions } from './text2sql.js';
import { vectorFunctions } from './vectors.js';

export const EXTENSIONS = {
  pg_llm: [
    ...chatFunctions,
    ...parallelFunctions,
    ...sessionFunctions,
    ...observabilityFunctions,
    ...vectorFunctions,
    ...knowledgeFunctions,
    ...askFunctions,
    ...semanticOperatorFunctions,
    ...estimateFunctions,
    ...generateQueryFunctions,
    ...explainQueryFunctions,
    ...schemaDiscoveryFunctions,
    ...text2sqlFunctions,
    ...reportFunctions,
  ],
  ai: [
    ...openAiFunctions, ...anthropicFunctions, ...ollamaFunctions, ...cohereFunctions, ...voyageAiFunctions, ...chunkingFunctions,
    ...vectorizerConfigFunctions,
    ...vectorizerCreateFunctions,
    ...vectorizerManageFunctions,
    ...vectorizerEmbedFunctions,
  ],
} satisfies Record<string, readonly Declaration[]>;

export type ExtensionName = keyof typeof EXTENSIONS;
export const EXTENSION_NAMES = Object.keys(EXTENSIONS) as ExtensionName[];

/** The functions the proxy serves (those the server runs are not intercepted). */
export const FUNCTIONS: readonly FunctionDeclaration[] = Object.values(EXTENSIONS)
  .flat()
  .filter((declaration: Declaration): declaration is FunctionDeclaration => !isSqlFunction(declaration));

const extensions = new Map<Declaration, ExtensionName>(EXTENSION_NAMES.flatMap((name) => EXTENSIONS[name].map((declaration) => [declaration, name] as const)));

/** The extension whose install makes the declaration's stub. */
export function extensionOf(declaration: FunctionDeclaration): ExtensionName {
  return extensions.get(declaration)!;
}

export const DEFAULT_SCHEMA = 'public';

export function schemaOf(declaration: Signature): string {
  return declaration.schema ?? DEFAULT_SCHEMA;
}

/** schema.name, which the declaration's overloads share. */
export function qualifiedName(declaration: Signature): string {
  return `${schemaOf(declaration)}.${declaration.name}`;
}

/** Declarations by schema and name: more than one where the name is overloaded. */
const bySchemaAndName = new Map<string, FunctionDeclaration[]>();
for (const declaration of FUNCTIONS) {
  const name = qualifiedName(declaration);
  bySchemaAndName.set(name, [...(bySchemaAndName.get(name) ?? []), declaration]);
}

/**
 * The name a call of the declaration goes by between its stub and the proxy: the plain name in public (as every
 * catalog before schemas had it), the qualified name elsewhere, and an overload's with the types of the arguments
 * that have no default, which tell pgai's overloads apart (ai.openai_embed(text, text[])).
 */
const keys = new Map<FunctionDeclaration, string>();
const byKey = new Map<string, FunctionDeclaration>();
for (const [qualified, declarations] of bySchemaAndName) {
  for (const declaration of declarations) {
    const required = declaration.arguments.filter((argument) => argument.default === undefined).map((argument) => argument.type);
    const name = schemaOf(declaration) === DEFAULT_SCHEMA ? declaration.name : qualified;
    const key = declarations.length > 1 ? `${name}(${required.join(', ')})` : name;
    if (byKey.has(key)) throw new Error(`${key}: overloads must differ in the arguments without a default`);
    // A literal is held back by where it stands in the call, before PostgreSQL has chosen the overload.
    if (declarations.some((other) => !sameSecrets(declaration, other))) throw new Error(`${key}: overloads must agree on which arguments are secret or SQL`);
    keys.set(declaration, key);
    byKey.set(key, declaration);
  }
}

/**
 * Whether every argument of `a` is as secret, and as much SQL, as the argument of `b` at its position, and as the
 * one of its name.
 */
function sameSecrets(a: FunctionDeclaration, b: FunctionDeclaration): boolean {
  return a.arguments.every((argument, i) => {
    const named = b.arguments.find((other) => other.name === argument.name);
    return [b.arguments[i], named].every((other) => other === undefined || (other.secret === argument.secret && other.sql === argument.sql));
  });
}

export function keyOf(declaration: FunctionDeclaration): string {
  return keys.get(declaration)!;
}

export function findFunction(key: string): FunctionDeclaration | undefined {
  return byKey.get(key);
}

/**
 * The declarations a call written with these name parts may reach: an unqualified name resolves to public, where
 * the default search_path finds it (pgai's functions are always written ai.…, as its documentation writes them).
 */
export function functionsCalled(parts: readonly string[]): FunctionDeclaration[] {
  if (parts.length === 1) return bySchemaAndName.get(`${DEFAULT_SCHEMA}.${parts[0]}`) ?? [];
  if (parts.length === 2) return bySchemaAndName.get(`${parts[0]}.${parts[1]}`) ?? [];
  return [];
}

/**
 * The declarations a call written with name parts the proxy does not serve may mean, which the server would run (and
 * log) as written: a name of another schema's written bare (openai_embed, with ai on the search_path), or a
 * qualified name behind a database's (db.ai.openai_embed, which PostgreSQL takes for ai.openai_embed in that database),
 * or behind more parts still.
 */
export function functionsMeant(parts: readonly string[]): FunctionDeclaration[] {
  // PostgreSQL refuses four parts or more (improper qualified name), with the statement in its log all the same.
  if (parts.length >= 3) return functionsCalled(parts.slice(-2));
  if (parts.length === 1) return FUNCTIONS.filter((declaration) => declaration.name === parts[0] && schemaOf(declaration) !== DEFAULT_SCHEMA);
  return [];
}

/** pgai's SQL functions (its config builders) by schema and name: the server runs them, but a statement's arguments of them may name a key (api_key_name). */
const sqlBySchemaAndName = new Map<string, SqlFunctionDeclaration[]>();
for (const declaration of Object.values(EXTENSIONS).flat().filter(isSqlFunction)) {
  const name = qualifiedName(declaration);
  sqlBySchemaAndName.set(name, [...(sqlBySchemaAndName.get(name) ?? []), declaration]);
}

/** The SQL functions a call written with these name parts may reach, as functionsCalled finds the intercepted ones. */
export function sqlFunctionsCalled(parts: readonly string[]): SqlFunctionDeclaration[] {
  if (parts.length === 1) return sqlBySchemaAndName.get(`${DEFAULT_SCHEMA}.${parts[0]}`) ?? [];
  if (parts.length === 2) return sqlBySchemaAndName.get(`${parts[0]}.${parts[1]}`) ?? [];
  return [];
}

/** The one declaration such a call reaches; undefined when none, or when only PostgreSQL can tell overloads apart. */
export function functionCalled(parts: readonly string[]): FunctionDeclaration | undefined {
  const found = functionsCalled(parts);
  return found.length === 1 ? found[0] : undefined;
}
