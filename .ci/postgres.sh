#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the store tests and prints the
# variable they read on stdout:
#
#   eval "$(.ci/postgres.sh)"        # start (or reuse) and export
#   .ci/postgres.sh stop             # stop it and delete its files
#
# Meant for CI and developers on Debian (bookworm); run as root it installs
# the postgresql package when missing and runs the server as the postgres
# user, since PostgreSQL refuses to run as root. Running it again while the
# cluster is up prints the same URL, so it is safe to call from every job
# step. The cluster lives in $GITACCESS_PG_DIR (default
# ${TMPDIR:-/tmp}/gitaccess-postgres), listens on 127.0.0.1 only, uses
# password authentication with a random password, and trades durability for
# speed (fsync off): it holds nothing but test databases.
#
# Everything except the export line goes to stderr.
set -euo pipefail

dir="${GITACCESS_PG_DIR:-${TMPDIR:-/tmp}/gitaccess-postgres}"
superuser=gitaccess

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# as_owner runs a command as the cluster's owner: the postgres user when we
# are root, ourselves otherwise.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$owner" -- "$@"
	else
		"$@"
	fi
}

find_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$d" ] && [ -x "$d/postgres" ] && printf '%s\n' "$d"
}

bin=$(find_bin || true)
if [ -z "$bin" ]; then
	[ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
	log "installing the postgresql package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
	bin=$(find_bin) || die "postgresql installed but no /usr/lib/postgresql/*/bin/postgres found"
fi

if [ "$(id -u)" -eq 0 ]; then
	owner=postgres
	if ! id "$owner" >/dev/null 2>&1; then
		log "creating system user $owner"
		useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
	fi
else
	owner=$(id -un)
fi

data="$dir/data"
urlfile="$dir/url"

running() {
	[ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

if [ "${1:-}" = "stop" ]; then
	if running; then
		log "stopping the cluster in $dir"
		as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
	fi
	rm -rf "$dir"
	exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [stop]"

if running && [ -s "$urlfile" ]; then
	log "reusing the running cluster in $dir"
	printf 'export GITACCESS_TEST_POSTGRES_URL=%s\n' "$(cat "$urlfile")"
	exit 0
fi

# A leftover directory from a stopped or crashed run is thrown away.
if [ -e "$dir" ]; then
	[ -d "$dir" ] && [ ! -L "$dir" ] || die "$dir exists and is not a directory"
	as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
fi
mkdir -m 0700 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$owner:" "$dir"

password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 24)
pwfile="$dir/pwfile"
(umask 077 && printf '%s\n' "$password" >"$pwfile")
[ "$(id -u)" -eq 0 ] && chown "$owner:" "$pwfile"

log "initialising a cluster in $data with $bin"
as_owner "$bin/initdb" -D "$data" -U "$superuser" --pwfile="$pwfile" \
	--auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 --no-sync >&2
rm -f "$pwfile"

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=
for _ in $(seq 1 20); do
	port=$((20000 + RANDOM % 40000))
	port_free "$port" || continue
	if as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		start >&2; then
		started=1
		break
	fi
	log "could not start on port $port, trying another"
done
[ -n "$started" ] || { cat "$dir/server.log" >&2 || true; die "could not start PostgreSQL"; }

for _ in $(seq 1 60); do
	"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
	sleep 1
done
"$bin/pg_isready" -h 127.0.0.1 -p "$port" >&2 || die "PostgreSQL did not become ready"

url="postgres://$superuser:$password@127.0.0.1:$port/postgres?sslmode=disable"
(umask 077 && printf '%s\n' "$url" >"$urlfile")
log "PostgreSQL ready on 127.0.0.1:$port (logs in $dir/server.log)"
printf 'export GITACCESS_TEST_POSTGRES_URL=%s\n' "$url"
