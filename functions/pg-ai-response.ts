// How pg_ai_query answers, as its [response] settings shape it (seed 002, ~/.pg_ai.config): plain text by default
// (the SQL, then SQL comments with the explanation, the warnings and the suggested visualization, so the answer
// still runs as SQL), or a JSON object with use_formatted_response = true.

import type { GenerationSettings } from '../src/providers/default-provider.js';

export interface Generated {
  query: string;
  explanation?: string | undefined;
  warnings: string[];
  visualization?: string | undefined;
  /** The proxy added the LIMIT ([query] enforce_limit). */
  rowLimitApplied: boolean;
  defaultLimit: number;
}

export function generatedAnswer(response: GenerationSettings['response'], generated: Generated): string {
  const explanation = response.show_explanation ? generated.explanation : undefined;
  const warnings = response.show_warnings ? generated.warnings : [];
  const visualization = response.show_suggested_visualization ? generated.visualization : undefined;
  if (response.use_formatted_response) {
    return JSON.stringify(
      {
        query: generated.query,
        success: true,
        ...(explanation ? { explanation } : {}),
        ...(warnings.length > 0 ? { warnings } : {}),
        ...(visualization ? { suggested_visualization: visualization } : {}),
        ...(generated.rowLimitApplied ? { row_limit_applied: true } : {}),
      },
      null,
      2,
    );
  }
  return [
    generated.query,
    explanation && commentBlock('Explanation', explanation),
    warnings.length > 0 && commentBlock('Warnings', warnings.map((warning, i) => `${i + 1}. ${warning}`).join('\n')),
    visualization && commentBlock('Suggested visualization', visualization),
    generated.rowLimitApplied && commentBlock('Note', `LIMIT ${generated.defaultLimit} was added ([query] enforce_limit).`),
  ]
    .filter(Boolean)
    .join('\n\n');
}

/**
 * A titled block of SQL comment lines. A carriage return ends a `--` comment as a newline does (PostgreSQL's lexer,
 * psql's): a model's explanation holding one would put SQL after the comment, hidden on a terminal (review K2).
 */
export function commentBlock(title: string, text: string): string {
  return [`-- ${title}:`, ...text.split(/\r\n|\r|\n/).map((line) => `--   ${line}`.trimEnd())].join('\n');
}
