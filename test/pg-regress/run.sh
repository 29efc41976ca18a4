#!/usr/bin/env bash
# PostgreSQL's own regression suite (pg_regress, parallel_schedule) against a throwaway PostgreSQL 15, directly and
# through the proxy: prints the pass counts side by side and the tests that fail only through the proxy (exit 1 if
# there are any).
#
# The suite comes from Debian's postgresql-15 source package, fetched with apt-get source through deb-src entries
# made from this machine's own apt sources, in an apt state directory of its own (the system's is left alone);
# regress.so, the C functions some tests load, is built against the server's headers. All of it lands in
# PG_REGRESS_WORKDIR (default /tmp/pg-llm-pg-regress) and is reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/../.."

major=15
work=${PG_REGRESS_WORKDIR:-/tmp/pg-llm-pg-regress}
pg_bin=/usr/lib/postgresql/$major/bin
pg_lib=/usr/lib/postgresql/$major/lib
pg_regress=$pg_lib/pgxs/src/test/regress/pg_regress

need_apt=()
[[ -x $pg_bin/initdb ]] || need_apt+=(postgresql-$major)
[[ -x $pg_regress ]] || need_apt+=(postgresql-client-$major)
[[ -d /usr/include/postgresql/$major/server ]] || need_apt+=(postgresql-server-dev-$major)
for tool in bzip2 make gcc; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

# apt with deb-src twins of the machine's deb sources (one-line and deb822 files alike), in a state of its own.
apt_private() {
  local dir=$work/apt
  if [[ ! -d $dir/lists ]]; then
    mkdir -p "$dir/lists/partial" "$dir/cache" "$dir/sources.list.d"
    : >"$dir/sources.list"
    for list in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      if [[ -f $list ]]; then sed -n 's/^deb /deb-src /p' "$list" >>"$dir/sources.list"; fi
    done
    for sources in /etc/apt/sources.list.d/*.sources; do
      if [[ -f $sources ]]; then sed 's/^Types:.*/Types: deb-src/' "$sources" >"$dir/sources.list.d/$(basename "$sources")"; fi
    done
  fi
  apt-get -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts="$dir/sources.list.d" \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Sandbox::User=root "$@"
}
apt_cache_private() {
  local dir=$work/apt
  apt-cache -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts="$dir/sources.list.d" \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" "$@"
}

# The suite of the installed server's version if its source can be fetched, else of the newest that can.
fetch_suite() {
  local installed versions version download=$work/download
  installed=$(dpkg-query -W -f='${Version}' "postgresql-$major")
  apt_private update >/dev/null
  versions=$( (echo "$installed"; apt_cache_private showsrc "postgresql-$major" | sed -n 's/^Version: //p' | sort -rV) | awk '!seen[$0]++')
  rm -rf "$download" && mkdir -p "$download"
  for version in $versions; do
    if (cd "$download" && apt_private source --download-only "postgresql-$major=$version" >/dev/null 2>&1); then
      echo "suite: postgresql-$major $version source (server: $installed)"
      tar -xf "$download"/postgresql-"$major"_*.orig.tar.* -C "$download" --wildcards '*/src/test/regress/*'
      rm -rf "$work/regress"
      mv "$download"/postgresql-*/src/test/regress "$work/regress"
      echo "$version" >"$work/regress/.version"
      rm -rf "$download"
      return
    fi
    echo "suite: no source for postgresql-$major $version, trying an older one"
  done
  echo "no postgresql-$major source package could be fetched" >&2
  exit 1
}

# regress.so from the suite's regress.c, beside the contrib modules autoinc and refint that the suite loads too.
build_library() {
  local lib=$work/lib
  rm -rf "$lib" && mkdir -p "$lib"
  cp "$work/regress/regress.c" "$lib/"
  printf 'MODULES = regress\nPG_CONFIG = %s\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' "$pg_bin/pg_config" >"$lib/Makefile"
  make -s -C "$lib" with_llvm=no
  cp "$pg_lib/autoinc.so" "$pg_lib/refint.so" "$lib/"
}

mkdir -p "$work"
[[ -f $work/regress/.version ]] || fetch_suite
[[ -f $work/lib/regress.so ]] || build_library
# The server, running as another user when this runs as root, reads the suite's data and writes into its output.
chmod -R a+rX "$work"

npm run build --silent
PG_LLM_TEST_PGBIN=$pg_bin exec node dist/test/pg-regress/compare.js \
  --suite "$work/regress" --suite-version "$(cat "$work/regress/.version")" --dlpath "$work/lib" --out "$work/out" --pg-regress "$pg_regress"
