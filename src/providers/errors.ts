// Errors of model providers as PostgreSQL errors: pg_ai_query's classes (39001 for a provider that fails), with
// secrets never in the text. The official SDKs share one family of error classes, so one mapping serves them all.

import { PgError } from '../../proxy/pg-error.js';
import { SecretFragments } from '../crypto/secret-fragments.js';

export class ProviderError extends PgError {
  constructor(message: string, hint?: string) {
    super('39001', message, hint === undefined ? {} : { hint });
  }
}

/** An answer with nothing to read: a status without a body, or one HTTP has not (fetch takes 200 to 599 only). */
export class NoAnswer extends ProviderError {
  constructor(status: number) {
    super(`the model provider answered with status ${status}, ${status > 599 ? 'which is no HTTP status' : 'which has no answer'}`, "Check the model's base_url.");
  }
}

/** The error of an answer whose status leaves nothing to read; none for any other. */
export function noAnswer(status: number): NoAnswer | undefined {
  return status === 204 || status === 205 || status === 304 || status > 599 ? new NoAnswer(status) : undefined;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** The error classes an official SDK exports (the openai and @anthropic-ai/sdk packages name them alike). */
export interface SdkErrors {
  APIUserAbortError: ErrorClass;
  AuthenticationError: ErrorClass;
  PermissionDeniedError: ErrorClass;
  NotFoundError: ErrorClass;
  BadRequestError: ErrorClass;
  UnprocessableEntityError: ErrorClass;
  APIConnectionTimeoutError: ErrorClass;
}

/** The SDK's error as a PostgreSQL error; a cancelled request stays the abort it is. */
export function fromSdkError(provider: string, error: unknown, apiKey: string | undefined, sdk: SdkErrors): unknown {
  if (error instanceof sdk.APIUserAbortError) return error;
  // The proxy's own errors (a refused host, an unreachable one, an answer over the cap) reach the SDK through its
  // fetch and come back as they are, or wrapped.
  const own = causes(error).find((cause) => cause instanceof PgError);
  if (own) return own;
  const text = redact(error instanceof Error ? error.message : String(error), [apiKey]);
  if (error instanceof sdk.AuthenticationError || error instanceof sdk.PermissionDeniedError) {
    return new PgError('28000', `${provider} refused the API key: ${text}`, { hint: 'Register the model again with a valid api_key.' });
  }
  if (error instanceof sdk.NotFoundError) {
    return new PgError('42704', `${provider} does not know the model: ${text}`, { hint: 'Check model_name (or deployment) in the model config.' });
  }
  if (error instanceof sdk.BadRequestError || error instanceof sdk.UnprocessableEntityError) return new PgError('22023', `${provider} refused the request: ${text}`);
  if (error instanceof sdk.APIConnectionTimeoutError) return new ProviderError(`${provider} did not answer in time: ${text}`, 'Raise timeout_ms in the model config.');
  return new ProviderError(`${provider} failed: ${text}`);
}

/** The error and the errors it was caused by, outermost first. */
export function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current != null && chain.length < 8; current = (current as { cause?: unknown }).cause) chain.push(current);
  return chain;
}

/**
 * An error's text as a client and the server's log may see it: no piece of the key, and no more than a few hundred
 * characters, since the SDKs quote an error answer's body and a model's server (any role's choice) may be an
 * internal service whose error pages are not the caller's to read at length.
 */
export function redact(text: string, secrets: Array<string | undefined>): string {
  return shortened(new SecretFragments(secrets).mask(text));
}

/** A provider's words in an error, cut to a few hundred characters (see redact). */
export function shortened(text: string): string {
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
}

const MAX_ERROR_TEXT = 300;
