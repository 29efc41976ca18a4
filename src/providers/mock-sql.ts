// The mock provider's stand-in for text-to-SQL, so generate_query and pg_llm_text2sql can be tried offline: asked
// for SQL over a schema (the prompt generate_query and text-to-SQL write: "Schema:" with CREATE TABLE statements,
// then the request), it reads every shown column of the first table the request names (else of the first table
// shown). It understands nothing of the request beyond that name, and says so in its explanation.

/** The JSON answer {"sql", "explanation"} when the prompt asks for SQL over a schema; undefined otherwise. */
export function mockSqlAnswer(prompt: string, system: string | undefined): string | undefined {
  const request = /\n(?:Request|Question): ([^\n]*)$/.exec(prompt)?.[1];
  if (!prompt.startsWith('Schema:\n') || request === undefined || !/\bSQL\b|\bquery\b/i.test(system ?? '')) return undefined;
  const tables = shownTables(prompt);
  if (tables.length === 0) return JSON.stringify({ sql: '', explanation: 'The mock provider found no table in the schema it was shown.' });
  const words = new Set(request.toLowerCase().match(/[\p{L}\p{N}_$]+/gu) ?? []);
  const named = tables.find(({ bareName }) => words.has(bareName) || words.has(`${bareName}s`) || words.has(bareName.replace(/s$/, '')));
  const table = named ?? tables[0]!;
  return JSON.stringify({
    sql: `SELECT ${table.columns.length > 0 ? table.columns.join(', ') : '*'} FROM ${table.name}`,
    explanation: `A mock answer: every row of ${table.name}, ${named ? 'the table the request names' : 'the first table of the schema'}; the mock provider writes no other SQL.`,
  });
}

interface ShownTable {
  /** As the schema writes it, qualified and quoted where needed. */
  name: string;
  /** The table's own name, unquoted and lower-cased, to find in the request. */
  bareName: string;
  columns: string[];
}

function shownTables(prompt: string): ShownTable[] {
  const tables: ShownTable[] = [];
  for (const match of prompt.matchAll(/^CREATE TABLE (\S+) \(\n([\s\S]*?)\n\);$/gm)) {
    const name = match[1]!;
    const last = /(?:"((?:[^"]|"")+)"|([^."]+))$/.exec(name);
    const bareName = (last?.[1]?.replace(/""/g, '"') ?? last?.[2] ?? name).toLowerCase();
    const columns = match[2]!
      .split('\n')
      .filter((line) => !/^ {2}(PRIMARY KEY|UNIQUE|FOREIGN KEY) \(/.test(line))
      .map((line) => /^ {2}("(?:[^"]|"")+"|[^\s"]+) /.exec(line)?.[1])
      .filter((column): column is string => column !== undefined);
    tables.push({ name, bareName, columns });
  }
  return tables;
}
