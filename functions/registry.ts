// Every SQL function the proxy serves, by name. The interception engine looks calls up here; the catalog
// installs one upstream stub per entry.

import { askFunctions } from './ask.js';
import { chatFunctions } from './chat.js';
import type { FunctionDeclaration } from './declaration.js';
import { knowledgeFunctions } from './knowledge.js';
import { observabilityFunctions } from './observability.js';
import { explainQueryFunctions } from './explain-query.js';
import { generateQueryFunctions } from './generate-query.js';
import { parallelFunctions } from './parallel.js';
import { reportFunctions } from './reports.js';
import { schemaDiscoveryFunctions } from './schema-discovery.js';
import { sessionFunctions } from './sessions.js';
import { text2sqlFunctions } from './text2sql.js';
import { vectorFunctions } from './vectors.js';

export const FUNCTIONS: readonly FunctionDeclaration[] = [
  ...chatFunctions,
  ...parallelFunctions,
  ...sessionFunctions,
  ...observabilityFunctions,
  ...vectorFunctions,
  ...knowledgeFunctions,
  ...askFunctions,
  ...generateQueryFunctions,
  ...explainQueryFunctions,
  ...schemaDiscoveryFunctions,
  ...text2sqlFunctions,
  ...reportFunctions,
];

const byName = new Map(FUNCTIONS.map((declaration) => [declaration.name, declaration]));

export function findFunction(name: string): FunctionDeclaration | undefined {
  return byName.get(name);
}
