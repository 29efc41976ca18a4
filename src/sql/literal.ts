// A text as an SQL string literal, for SQL the proxy writes itself. Only quotes are doubled: that is the whole
// escaping where standard_conforming_strings is on (PostgreSQL's default since 9.1), and of any text without a
// backslash wherever it is off.

export function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
