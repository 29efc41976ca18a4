#!/bin/sh
# The image's entry point. Outside a container the proxy falls back to an embedded PostgreSQL when no upstream is
# configured; in a container that fallback would hide a forgotten PG_LLM_UPSTREAM behind an empty database that looks
# healthy, so here the embedded server must be asked for by name.
set -eu
explicit=no
[ -n "${PG_LLM_UPSTREAM:-}" ] || [ -n "${PG_LLM_CONFIG:-}" ] || [ -n "${PG_LLM_EMBEDDED:-}" ] && explicit=yes
for argument in "$@"; do
  case "$argument" in
    --upstream|--upstream=*|--config|--config=*|--embedded|--embedded=*|--help|-h|--version|seal-secret) explicit=yes ;;
  esac
done
if [ "$explicit" = no ]; then
  echo "pg-llm-proxy: no upstream: set PG_LLM_UPSTREAM=postgres://HOST:PORT, or PG_LLM_EMBEDDED=always for an embedded PostgreSQL in /data" >&2
  exit 2
fi
exec node "$(dirname "$0")/../dist/src/main.js" "$@"
