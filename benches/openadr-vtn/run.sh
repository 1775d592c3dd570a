#!/usr/bin/env bash
# OpenADR 3.1 side-by-side benchmark (issue 13, "Speed"): openleadr-vtn 0.2.8 on PostgreSQL,
# GridFlex on the same PostgreSQL, GridFlex on SQLite; each holding 1,000 programs, 10,000
# events (half targeted at the benchmark VEN) and 2,000 VENs; 32 concurrent clients; the load
# driver is `cargo bench -p server --bench openadr` (server/benches/openadr.rs).
#
#   benches/openadr-vtn/run.sh                      # release builds, 20 s per request kind
#   OADR_BENCH_PROFILE=dev OADR_BENCH_SECS=10 benches/openadr-vtn/run.sh
#
# Settings (environment): OADR_BENCH_PROFILE (release | dev: how GridFlex and the driver are
# built; openleadr-vtn is always `cargo install`ed, i.e. release), OADR_BENCH_SECS (20),
# OADR_BENCH_CLIENTS (32), PG_URL (postgres://postgres@127.0.0.1:5432, trust), VTN_ROOT
# (/work/vtn-root: where openleadr-vtn is installed), OADR_BENCH_DIR (/tmp/oadr-bench: logs,
# the SQLite file, the results), OADR_BENCH_ONLY (all | openleadr | gridflex-pg |
# gridflex-sqlite). The databases oadr_bench_vtn and oadr_bench_gridflex are dropped and
# created again on every run. Needs root for apt-get when cmake/libssl-dev/pkg-config are missing.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PROFILE=${OADR_BENCH_PROFILE:-release}
SECS=${OADR_BENCH_SECS:-20}
CLIENTS=${OADR_BENCH_CLIENTS:-32}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
VTN_ROOT=${VTN_ROOT:-/work/vtn-root}
VTN_VERSION=0.2.8
WORK=${OADR_BENCH_DIR:-/tmp/oadr-bench}
ONLY=${OADR_BENCH_ONLY:-all}
VTN_PORT=3101 GF_PG_PORT=3102 GF_SQLITE_PORT=3103
VTN_DB=oadr_bench_vtn GF_DB=oadr_bench_gridflex
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
: > "$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

log() { printf '\n== %s\n' "$*"; }
want() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }

wait_port() { # url, pid, log file
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited; see $3"; tail -20 "$3"; exit 1; }
    sleep 0.5
  done
  echo "no answer from $1 after 60 s; see $3"; exit 1
}

fresh_db() { # name
  psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# The driver (and GridFlex) are built with the profile asked for.
run_bench() { (cd "$REPO" && cargo bench -q -p server --bench openadr --profile "$PROFILE"); }

# ---------------------------------------------------------------------------- build
if want openleadr; then
  missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get install -y "${missing[@]}"
  fi
  if [ ! -x "$VTN_ROOT/bin/openleadr-vtn" ]; then
    log "building openleadr-vtn $VTN_VERSION (10-25 minutes)"
    CARGO_TARGET_DIR=${VTN_TARGET_DIR:-/work/tgt-vtn-install} \
      cargo install openleadr-vtn --version "$VTN_VERSION" --features internal-oauth --root "$VTN_ROOT"
  fi
fi
log "building GridFlex and the driver ($PROFILE)"
# `cargo bench` builds the gridflex binary too, with the features the benches unify to (a
# separate `cargo build --bin gridflex` would build the dependencies a second time).
(cd "$REPO" && cargo bench -q -p server --bench openadr --profile "$PROFILE" --no-run)
case "$PROFILE" in dev) GRIDFLEX=${CARGO_TARGET_DIR:-$REPO/target}/debug/gridflex ;; *) GRIDFLEX=${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE/gridflex ;; esac

export OADR_BENCH_SECS=$SECS OADR_BENCH_CLIENTS=$CLIENTS OADR_BENCH_OUT=$RESULTS

# ---------------------------------------------------------------------------- openleadr-vtn
if want openleadr; then
  log "openleadr-vtn $VTN_VERSION on PostgreSQL ($VTN_DB)"
  SRC=$(ls -d "$HOME"/.cargo/registry/src/*/openleadr-vtn-$VTN_VERSION | head -1)
  fresh_db "$VTN_DB"
  # Its migrations, in order. Two of them (20260506070840 and 20260824131606) select from a
  # subquery without an alias, which PostgreSQL 15 refuses: the alias is added here. The VTN
  # tries its embedded migrations again when it starts and logs a warning (the schema exists).
  for f in "$SRC"/migrations/*.sql; do
    sed 's/FROM (SELECT unnest(_scopes) AS scope)$/FROM (SELECT unnest(_scopes) AS scope) AS s/' "$f" \
      | psql "$PG_URL/$VTN_DB" -q -v ON_ERROR_STOP=1 --single-transaction >/dev/null
  done
  # Its own test users: bl-client / bl-client and ven-client-client-id / ven-client.
  psql "$PG_URL/$VTN_DB" -q -v ON_ERROR_STOP=1 -f "$SRC/src/api/fixtures/users.sql" >/dev/null
  PORT=$VTN_PORT DATABASE_URL="$PG_URL/$VTN_DB" OAUTH_TYPE=INTERNAL \
    OAUTH_BASE64_SECRET=$(head -c 32 /dev/urandom | base64) \
    OAUTH_TOKEN_URL="http://127.0.0.1:$VTN_PORT/auth/token" RUST_LOG=error \
    "$VTN_ROOT/bin/openleadr-vtn" > "$WORK/openleadr-vtn.log" 2>&1 &
  VTN_PID=$!; PIDS+=("$VTN_PID")
  wait_port "http://127.0.0.1:$VTN_PORT/health" "$VTN_PID" "$WORK/openleadr-vtn.log"
  export OADR_BENCH_BASE="http://127.0.0.1:$VTN_PORT/" OADR_BENCH_TOKEN_URL="http://127.0.0.1:$VTN_PORT/auth/token"
  export OADR_BENCH_BL_ID=bl-client OADR_BENCH_BL_SECRET=bl-client
  export OADR_BENCH_VEN_ID=ven-client-client-id OADR_BENCH_VEN_SECRET=ven-client
  OADR_BENCH_MODE=seed-openleadr run_bench
  psql "$PG_URL/$VTN_DB" -qc "VACUUM ANALYZE" >/dev/null
  OADR_BENCH_LABEL="openleadr-vtn (PG)" OADR_BENCH_MODE=drive run_bench
  kill "$VTN_PID"; wait "$VTN_PID" 2>/dev/null || true
fi

# ---------------------------------------------------------------------------- GridFlex
gridflex_run() { # label, database url, port
  local label=$1 url=$2 port=$3 creds=$WORK/creds-$3.env
  log "GridFlex on $label"
  OADR_BENCH_MODE=seed-gridflex GRIDFLEX_DATABASE_URL=$url OADR_BENCH_CREDS=$creds run_bench
  GRIDFLEX_LOG=warn GRIDFLEX_DATABASE_URL=$url GRIDFLEX_DB_MAX_CONNECTIONS=10 \
    "$GRIDFLEX" serve --listen "127.0.0.1:$port" > "$WORK/gridflex-$port.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  wait_port "http://127.0.0.1:$port/health" "$pid" "$WORK/gridflex-$port.log"
  set -a; . "$creds"; set +a
  OADR_BENCH_BASE="http://127.0.0.1:$port/openadr/3.1/" OADR_BENCH_TOKEN_URL="http://127.0.0.1:$port/openadr/3.1/auth/token" \
    OADR_BENCH_LABEL="GridFlex ($label)" OADR_BENCH_MODE=drive run_bench
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
if want gridflex-pg; then
  fresh_db "$GF_DB"
  gridflex_run PG "$PG_URL/$GF_DB" $GF_PG_PORT
fi
if want gridflex-sqlite; then
  rm -f "$WORK"/gridflex-bench.db*
  gridflex_run SQLite "sqlite://$WORK/gridflex-bench.db" $GF_SQLITE_PORT
fi

# ---------------------------------------------------------------------------- the table
log "results ($PROFILE build of GridFlex, release openleadr-vtn; $CLIENTS clients, $SECS s per kind; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "| request | server | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|"
sort -t$'\t' -k2,2 -s "$RESULTS" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s |\n", $2, $1, $3, $4, $5, $6}'
