// Errors of model providers as PostgreSQL errors: pg_ai_query's classes (39001 for a provider that fails), with
// secrets never in the text.

import { PgError } from '../../proxy/pg-error.js';

export class ProviderError extends PgError {
  constructor(message: string, hint?: string) {
    super('39001', message, hint === undefined ? {} : { hint });
  }
}
