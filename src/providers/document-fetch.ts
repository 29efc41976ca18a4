// A document a vectorizer loads by its URI (pgai's ai.loading_uri), fetched under the rules of a provider request,
// as anyone who may write the source table names the URI: http and https only (never file: or any other scheme),
// connected only where the operator's provider-host policy lets the proxy connect (link-local and cloud metadata
// addresses never), at a loopback or private address only where --document-hosts-allow names it, and never to a port
// this process listens on at this host's own addresses (the admin server trusts loopback), checked on the resolved
// address where each connection opens, redirects included; read up to --max-response-bytes, counted
// with the other answers being read; in a bounded time. Errors name the host, never the rest of the URI, which may
// carry a token. What cannot succeed by asking again (a refused host or scheme, an answer too large, a 4xx) is a
// DocumentRefused; a failure to reach the host, a 5xx or a 429 is a ProviderError, which a later try may get past.

import { Agent, fetch, type Response } from 'undici';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import type { Asker } from './asker.js';
import { deadline } from './deadline.js';
import { causes, ProviderError } from './errors.js';
import { guardedConnector, HostRefused, OwnPortRefused } from './host-policy.js';
import { documentHostPolicy, KEEP_ALIVE, maxResponseBytes } from './http.js';
import { AnswerTooLarge, capped } from './response-cap.js';

const TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;
const dispatcher = new Agent({ connect: guardedConnector(CONNECT_TIMEOUT_MS, documentHostPolicy), headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, ...KEEP_ALIVE });

/** A document that asking again would not get. */
export class DocumentRefused extends PgError {}

export interface FetchedDocument {
  /** Where the document was read: past any redirects. */
  url: URL;
  bytes: Uint8Array;
  /** The media type the server gave, without its parameters, in lower case. */
  mediaType: string | undefined;
  /** The parameters of its Content-Type (charset…). */
  charset: string | undefined;
}

/** The document at `uri`, for `asker` (whose share of the answers read at once its bytes count against). */
export async function fetchDocument(uri: string, signal: AbortSignal, asker: Asker): Promise<FetchedDocument> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new DocumentRefused('22023', 'the document URI is not a URI');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DocumentRefused(SqlState.FeatureNotSupported, `loading_uri fetches http and https documents only, not ${url.protocol.slice(0, -1)} ones`, {
      hint: "The proxy's worker serves no other scheme (pgai's s3: and file: included); serve the document over https, or store its text in a column (ai.loading_column).",
    });
  }
  const host = url.host;
  const clock = deadline(signal, TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, { signal: clock.signal, dispatcher, redirect: 'follow' });
  } catch (error) {
    clock.clear();
    if (signal.aborted) throw error;
    if (causes(error).some((cause) => cause instanceof HostRefused || cause instanceof OwnPortRefused)) {
      throw new DocumentRefused('42501', `the operator's document-host policy refuses ${host}`, {
        hint: "Documents come only from hosts the provider-host policy allows (--provider-hosts-allow, --provider-hosts-deny), from loopback and private addresses only where --document-hosts-allow (PG_LLM_DOCUMENT_HOSTS_ALLOW) names them, never from the proxy's own ports on its own host; link-local, cloud metadata and unspecified addresses never.",
      });
    }
    throw new ProviderError(`could not fetch the document from ${host}`, 'It is tried again later.');
  }
  if (!response.ok) {
    clock.clear();
    await response.body?.cancel().catch(() => undefined);
    const message = `${host} answered ${response.status} for the document`;
    if (response.status >= 500 || response.status === 429) throw new ProviderError(message, 'It is tried again later.');
    throw new DocumentRefused('22023', message);
  }
  const limit = maxResponseBytes();
  try {
    const bytes = new Uint8Array(await capped(response, limit, 'chat', asker, clock.clear).arrayBuffer());
    const [mediaType, ...parameters] = (response.headers.get('content-type') ?? '').split(';').map((part) => part.trim().toLowerCase());
    const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '');
    return { url: new URL(response.url), bytes, mediaType: mediaType || undefined, charset };
  } catch (error) {
    clock.clear();
    if (error instanceof AnswerTooLarge) {
      throw new DocumentRefused(SqlState.ProgramLimitExceeded, `the document at ${host} is larger than the limit of ${limit} bytes`, {
        hint: "The proxy's --max-response-bytes (PG_LLM_MAX_RESPONSE_BYTES) caps a document as it caps a chat answer.",
      });
    }
    throw error;
  }
}
