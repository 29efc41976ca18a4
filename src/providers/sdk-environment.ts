// Variables of the provider SDKs' own that they read from the process's environment whatever the proxy passes them:
// headers and tokens added to every request of every client, whichever server a role registered a model at. An
// operator's gateway credential in ANTHROPIC_AUTH_TOKEN or ANTHROPIC_CUSTOM_HEADERS would go to any role's base_url.
// The proxy configures its clients itself (keys, servers and headers by model, DefaultProviders for its own), so
// these are taken out of the environment before any client is made, and named in a warning (never their values).

const IMPLICIT = [
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_CUSTOM_HEADERS',
  'OPENAI_CUSTOM_HEADERS',
  'OPENAI_ADMIN_KEY',
  'OPENAI_ORG_ID',
  'OPENAI_PROJECT_ID',
];

/** Removes the SDKs' implicit variables from `env`; the names of those that were set. */
export function withoutSdkVariables(env: NodeJS.ProcessEnv = process.env): string[] {
  const removed = IMPLICIT.filter((name) => env[name] !== undefined);
  for (const name of removed) delete env[name];
  return removed;
}
