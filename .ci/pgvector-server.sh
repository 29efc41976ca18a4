#!/usr/bin/env bash
# A copy of the newest PostgreSQL server installed here (Debian's layout) with pgvector built into it, for the tests
# that need pgvector on a real server (test/support/pgvector-cluster.ts). The suite's own cluster runs the server as
# installed, without pgvector, so that the real[] fallback stays tested: pgvector is not installed into the system's
# server, whose CREATE EXTENSION ai CASCADE would then install it everywhere. The server finds its files relative to
# its binaries, so the copy is a server of its own.
#
# Debian ships pgvector in its newer releases only, so it is built from Debian's source package of trixie (fetched
# with apt-get source from the machine's own Debian archive) against the server's headers (postgresql-server-dev-N).
#
# Usage: .ci/pgvector-server.sh DIR — builds the copy under DIR unless it is there, and prints its bin directory.
set -euo pipefail

dir="${1:?usage: .ci/pgvector-server.sh DIR}"
# The newest server installed, as test/support/cluster.ts's serverBinDir() picks it.
version=$(for initdb in /usr/lib/postgresql/*/bin/initdb; do basename "$(dirname "$(dirname "$initdb")")"; done | sort -n | tail -1)
root="$dir/pg$version"
bin="$root/usr/lib/postgresql/$version/bin"
if [[ -f "$root/usr/share/postgresql/$version/extension/vector.control" ]]; then
  echo "$bin"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s "postgresql-server-dev-$version" >/dev/null 2>&1; then
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "postgresql-server-dev-$version" make gcc >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. /etc/os-release
archive=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk -v suite="$VERSION_CODENAME" '$2 == suite { print $1; exit }')
[[ -n "$archive" ]] || { echo "no Debian archive configured for $VERSION_CODENAME" >&2; exit 1; }
mkdir -p "$work/apt/lists/partial"
echo "deb-src $archive trixie main" >"$work/sources.list"
apt_options=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/apt/lists" -o APT::Sandbox::User=root)
apt-get "${apt_options[@]}" update -q >&2
(cd "$work" && apt-get "${apt_options[@]}" source --download-only pgvector >&2)
tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
source=$(ls -d "$work"/pgvector-*/)

rm -rf "$root.partial"
mkdir -p "$root.partial/usr/lib/postgresql" "$root.partial/usr/share/postgresql"
cp -a "/usr/lib/postgresql/$version" "$root.partial/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$version" "$root.partial/usr/share/postgresql/"
make -C "$source" PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" >&2
make -C "$source" PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" DESTDIR="$root.partial" install >&2
rm -rf "$root"
mv "$root.partial" "$root"
echo "$bin"
