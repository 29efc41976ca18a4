// pgai's ai.loading_uri in the worker: each row's column holds the URI of a document whose text is what the row
// embeds. The documents are fetched (src/providers/document-fetch.ts) one after another, so that a batch reads one at
// a time. As pgai's parsing_auto takes text and markdown documents as they are, those are served: a Content-Type of
// text/plain or text/markdown, or, where the server names none or a generic one, a path ending in .txt or .md (pgai's
// test by extension) where the document was read, past any redirects, in UTF-8. Other documents (PDF, HTML,
// Office…), which pgai parsed with docling or pymupdf, are refused for good, as are documents that cannot be fetched
// by asking again (DocumentRefused).

import { SqlState } from '../../proxy/pg-error.js';
import type { Asker } from '../providers/asker.js';
import { DocumentRefused, fetchDocument, type FetchedDocument } from '../providers/document-fetch.js';
import { RowRefused, type VectorizerConfig } from './vectorizer-text.js';

const TEXT_TYPES = new Set(['text/plain', 'text/markdown', 'text/x-markdown']);
/** Media types that say nothing of what a document is: its URI's extension decides. */
const GENERIC_TYPES = new Set([undefined, 'application/octet-stream', 'binary/octet-stream']);
const TEXT_EXTENSIONS = /\.(txt|md)$/i;
const CHARSETS = new Set([undefined, 'utf-8', 'utf8', 'us-ascii']);

/**
 * The rows with the text of their documents in place of the URI (a NULL URI stays NULL: no text, no chunks), and the
 * rows refused for good, each with its error.
 */
export async function loadDocuments(
  config: VectorizerConfig,
  rows: Array<Record<string, unknown>>,
  signal: AbortSignal,
  asker: Asker,
): Promise<{ loaded: Array<Record<string, unknown>>; refused: Array<{ row: Record<string, unknown>; error: RowRefused }> }> {
  const column = config.loading.column_name;
  const loaded: Array<Record<string, unknown>> = [];
  const refused: Array<{ row: Record<string, unknown>; error: RowRefused }> = [];
  for (const row of rows) {
    const uri = row[column];
    if (uri === null || uri === undefined) {
      loaded.push(row);
      continue;
    }
    try {
      loaded.push({ ...row, [column]: documentText(await fetchDocument(String(uri), signal, asker)) });
    } catch (error) {
      if (!(error instanceof DocumentRefused)) throw error;
      refused.push({ row, error: new RowRefused(error.sqlstate, `the row's document is not loaded: ${error.message}`, error.hint === undefined ? {} : { hint: error.hint }) });
    }
  }
  return { loaded, refused };
}

/** The text of a text or markdown document, as pgai's parsing_auto takes it. */
function documentText(document: FetchedDocument): string {
  const byExtension = GENERIC_TYPES.has(document.mediaType) && TEXT_EXTENSIONS.test(document.url.pathname);
  if (!(TEXT_TYPES.has(document.mediaType ?? '') || byExtension)) {
    throw new DocumentRefused(SqlState.FeatureNotSupported, `parsing a document of type ${document.mediaType ?? 'unknown'} is not served by the proxy: it takes text and markdown documents only`, {
      hint: "pgai parsed other documents (PDF, HTML, Office…) with docling or pymupdf; serve the text as text/plain or text/markdown, or store it in a column (ai.loading_column).",
    });
  }
  if (!CHARSETS.has(document.charset)) throw new DocumentRefused('22021', `the document is in ${document.charset}, not UTF-8`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(document.bytes);
  } catch {
    throw new DocumentRefused('22021', 'the document is not valid UTF-8');
  }
}

