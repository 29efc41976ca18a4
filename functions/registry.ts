// Every SQL function the proxy serves, by name. The interception engine looks calls up here; the catalog
// installs one upstream stub per entry.

import { askFunctions } from './ask.js';
import { chatFunctions } from './chat.js';
import type { FunctionDeclaration } from './declaration.js';
import { knowledgeFunctions } from './knowledge.js';
import { observabilityFunctions } from './observability.js';
import { parallelFunctions } from './parallel.js';
import { sessionFunctions } from './sessions.js';
import { vectorFunctions } from './vectors.js';

export const FUNCTIONS: readonly FunctionDeclaration[] = [...chatFunctions, ...parallelFunctions, ...sessionFunctions, ...observabilityFunctions, ...vectorFunctions, ...knowledgeFunctions, ...askFunctions];

const byName = new Map(FUNCTIONS.map((declaration) => [declaration.name, declaration]));

export function findFunction(name: string): FunctionDeclaration | undefined {
  return byName.get(name);
}
