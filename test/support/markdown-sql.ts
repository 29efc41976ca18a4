// The SQL examples of a markdown file: its fenced ```sql blocks, as a psql script that keeps every example on the
// line it stands on in the file (all else blank), so psql's error positions are the file's own lines.

/** The info string of a block that is shown but not run (it needs a real provider, or only illustrates). */
export const NO_RUN = 'sql no-run';

export interface MarkdownSql {
  /** The file's text with every line outside a runnable ```sql block blanked. */
  script: string;
  runnable: number;
  notRun: number;
}

export function markdownSql(markdown: string, file: string): MarkdownSql {
  const lines = markdown.split('\n');
  const script: string[] = [];
  let fence: 'run' | 'skip' | 'other' | undefined;
  let runnable = 0;
  let notRun = 0;
  lines.forEach((line, i) => {
    const opening = /^\s*```\s*(\S.*)?$/.exec(line);
    if (fence === undefined && opening) {
      const info = (opening[1] ?? '').trim();
      if (info === 'sql') (fence = 'run'), runnable++;
      else if (info === NO_RUN) (fence = 'skip'), notRun++;
      else if (/^sql\b/.test(info)) throw new Error(`${file}:${i + 1}: unknown info string "${info}": write sql or ${NO_RUN}`);
      else fence = 'other';
      script.push('');
    } else if (fence !== undefined && /^\s*```\s*$/.test(line)) {
      fence = undefined;
      script.push('');
    } else {
      script.push(fence === 'run' ? line : '');
    }
  });
  if (fence !== undefined) throw new Error(`${file}: a fenced block is not closed`);
  return { script: script.join('\n'), runnable, notRun };
}
