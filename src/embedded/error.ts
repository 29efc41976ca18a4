// Why the embedded PostgreSQL could not start, told to the user as it is (no stack: nothing in the proxy failed).

export class EmbeddedServerError extends Error {}
