#!/usr/bin/env bash
# Throwaway Postgres clusters for tests, benchmarks and the demo.
#
#   scripts/pg.sh install          install Debian's PostgreSQL when initdb is missing
#   scripts/pg.sh start [DIR]      init (if needed) and start a cluster in DIR (default: a new temp dir)
#                                  on a free loopback port; prints the connection URL on stdout
#   scripts/pg.sh url DIR          print the URL of the running cluster in DIR
#   scripts/pg.sh stop DIR         stop the cluster in DIR (data kept)
#   scripts/pg.sh destroy DIR      stop the cluster and delete DIR
#
# The cluster runs as the `postgres` OS user when invoked as root (root may not run the server),
# with trust auth, wal_level=logical and fsync off: it is for throwaway data only.
# PG_SERVER_OPTIONS adds server options for diagnosis, e.g.
#   PG_SERVER_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
set -euo pipefail

log() { printf '[pg] %s\n' "$*" >&2; }

find_bin() {
  local name="$1" found
  if found="$(command -v "$name" 2>/dev/null)"; then echo "$found"; return 0; fi
  found="$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$found" ]; then echo "$found"; return 0; fi
  return 1
}

install_pg() {
  if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then log "PostgreSQL is not installed and we are not root: apt-get install -y postgresql"; exit 1; fi
  log "installing PostgreSQL (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  # Debian's package starts a default cluster; we never use it.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true; done
  fi
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below Linux's ephemeral range (32768-60999), so no outgoing connection holds the port we pick.
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  log "no free port found"; exit 1
}

url_of() { echo "postgres://postgres@127.0.0.1:$(cat "$1/pgsync-port")/postgres"; }

start() {
  install_pg
  local dir="${1:-}" initdb pg_ctl port
  initdb="$(find_bin initdb)"; pg_ctl="$(find_bin pg_ctl)"
  if [ -z "$dir" ]; then dir="$(mktemp -d /tmp/pgsync-pg.XXXXXX)"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$initdb" -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D "$dir/data" >/dev/null 2>"$dir/initdb.log" \
      || as_pg "$initdb" -A trust -U postgres -E UTF8 --locale=C -D "$dir/data" >/dev/null 2>"$dir/initdb.log" \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if [ -f "$dir/data/postmaster.pid" ] && as_pg "$pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    url_of "$dir"; return 0
  fi
  # Another process can take the port between the check and the bind: try a few.
  local attempt
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    echo "$port" >"$dir/pgsync-port"
    if as_pg "$pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
      -o "-c wal_level=logical -c max_wal_senders=64 -c max_replication_slots=64" \
      -o "-c max_connections=600 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      -o "-c shared_buffers=256MB -c log_min_messages=warning -c log_statement=none" \
      ${PG_SERVER_OPTIONS:+-o "$PG_SERVER_OPTIONS"} \
      start >/dev/null; then
      break
    fi
    if [ "$attempt" = 5 ] || ! grep -q "Address already in use" "$dir/postgres.log"; then
      tail -n 30 "$dir/postgres.log" >&2; exit 1
    fi
    log "port $port was taken; trying another"
  done
  echo "$dir" >"$dir/pgsync-dir"
  url_of "$dir"
}

stop() {
  local dir="$1" pg_ctl
  pg_ctl="$(find_bin pg_ctl)" || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install_pg ;;
  start) start "${1:-}" ;;
  url) url_of "$1" ;;
  stop) stop "$1" ;;
  destroy) stop "$1"; rm -rf "$1" ;;
  *) echo "usage: scripts/pg.sh install|start [DIR]|url DIR|stop DIR|destroy DIR" >&2; exit 2 ;;
esac
