#!/usr/bin/env bash
# Runs `bench outbox` and `bench latency` with two lienthong binaries (BEFORE and AFTER a change),
# on SQLite and PostgreSQL, each from an empty store and from a large template (see
# `lienthong bench prefill`), several times, interleaved (run 1 of every case, then run 2, ...),
# so drift in the machine's load hits both binaries alike. Saves every run's output and `uptime`
# under a results folder and prints one summary table.
#
#   benches/compare.sh BEFORE AFTER [--runs 3] [--starts "empty large"] [--messages 20000] [--rate 1000] [--seconds 15]
#                      [--pg postgres://postgres@127.0.0.1:5432/postgres] [--out DIR]
#                      [--sqlite-template /work/templates/large.db]
#                      [--pg-template lt_template_large]
#                      [--after-sqlite-template /work/templates/large-after.db]
#                      [--after-pg-template lt_template_large_after]
#
# Templates: BEFORE runs start from the before templates as they are. AFTER may migrate the
# schema on first open (e.g. rewriting the outbox table); that must not be timed, so AFTER runs
# start from templates already migrated by AFTER: copies of the before templates on which
# `AFTER migrate` has run once. This script makes them when they are missing (a half-made one is
# never left under the final name). Delete them to have them made again after AFTER changes.
#
# Both binaries run from this checkout's root (they read ./mappings and ./benches from the
# current folder), so they map the same records with the same files.
#
# A tiny dry run (checks the script, not a measurement):
#   benches/compare.sh BIN BIN --runs 1 --messages 200 --seconds 2
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 2 ]] || usage
BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
shift 2
RUNS=3
MESSAGES=20000
RATE=1000
SECONDS_=15
PG=postgres://postgres@127.0.0.1:5432/postgres
SQLITE_T=/work/templates/large.db
STARTS="empty large"
PG_T=lt_template_large
SQLITE_T_AFTER=/work/templates/large-after.db
PG_T_AFTER=lt_template_large_after
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/benches/results/$(date -u +%Y%m%dT%H%M%SZ)
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=$2 ;;
    --starts) STARTS=$2 ;;
    --messages) MESSAGES=$2 ;;
    --rate) RATE=$2 ;;
    --seconds) SECONDS_=$2 ;;
    --pg) PG=$2 ;;
    --out) OUT=$2 ;;
    --sqlite-template) SQLITE_T=$2 ;;
    --pg-template) PG_T=$2 ;;
    --after-sqlite-template) SQLITE_T_AFTER=$2 ;;
    --after-pg-template) PG_T_AFTER=$2 ;;
    *) usage ;;
  esac
  shift 2
done
for b in "$BEFORE" "$AFTER"; do
  [[ -x $b ]] || { echo "not an executable: $b" >&2; exit 2; }
  for bench in outbox latency; do
    "$b" bench "$bench" --help | grep -q -- --template ||
      { echo "$b: bench $bench has no --template option" >&2; exit 2; }
  done
done
[[ -f $SQLITE_T ]] || { echo "missing SQLite template $SQLITE_T (make it with: $BEFORE bench prefill --store sqlite:$SQLITE_T --messages 1000000)" >&2; exit 2; }
psql "$PG" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$PG_T'" | grep -q 1 ||
  { echo "missing PostgreSQL template $PG_T (make it with: $BEFORE bench prefill --store ${PG%/*}/$PG_T --messages 1000000)" >&2; exit 2; }
mkdir -p "$OUT"
cd "$ROOT"

# --- AFTER templates: a copy of each before template, migrated once by AFTER ----------------
migrate() { # BIN URL LOG
  local cfg
  cfg=$(mktemp)
  printf '[store]\nurl = "%s"\n' "$2" > "$cfg"
  { uptime; /usr/bin/time -f 'migrate took %e s' "$1" migrate --config "$cfg"; } >> "$3" 2>&1
  rm -f "$cfg"
}
if [[ ! -f $SQLITE_T_AFTER ]]; then
  echo "making $SQLITE_T_AFTER (copy of $SQLITE_T, then AFTER migrate)…" >&2
  rm -f "$SQLITE_T_AFTER.tmp" "$SQLITE_T_AFTER.tmp-wal" "$SQLITE_T_AFTER.tmp-shm"
  cp "$SQLITE_T" "$SQLITE_T_AFTER.tmp"
  [[ -f $SQLITE_T-wal ]] && cp "$SQLITE_T-wal" "$SQLITE_T_AFTER.tmp-wal"
  migrate "$AFTER" "sqlite://$SQLITE_T_AFTER.tmp" "$OUT/make-after-template-sqlite.txt"
  # The migrated copy as one file (its WAL folded in), so a run copies one file.
  sqlite3 "$SQLITE_T_AFTER.tmp" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null
  rm -f "$SQLITE_T_AFTER.tmp-wal" "$SQLITE_T_AFTER.tmp-shm"
  mv "$SQLITE_T_AFTER.tmp" "$SQLITE_T_AFTER"
fi
if ! psql "$PG" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$PG_T_AFTER'" | grep -q 1; then
  echo "making $PG_T_AFTER (copy of $PG_T, then AFTER migrate)…" >&2
  psql "$PG" -qc "DROP DATABASE IF EXISTS ${PG_T_AFTER}_tmp WITH (FORCE)"
  psql "$PG" -qc "CREATE DATABASE ${PG_T_AFTER}_tmp TEMPLATE $PG_T STRATEGY FILE_COPY"
  migrate "$AFTER" "${PG%/*}/${PG_T_AFTER}_tmp" "$OUT/make-after-template-postgres.txt"
  psql "${PG%/*}/${PG_T_AFTER}_tmp" -qc 'VACUUM ANALYZE'
  psql "$PG" -qc "ALTER DATABASE ${PG_T_AFTER}_tmp RENAME TO $PG_T_AFTER"
fi

# --- the runs ---------------------------------------------------------------------------------
{
  echo "BEFORE=$BEFORE ($(sha256sum "$BEFORE" | cut -c1-12))"
  echo "AFTER=$AFTER ($(sha256sum "$AFTER" | cut -c1-12))"
  echo "runs=$RUNS messages=$MESSAGES rate=$RATE seconds=$SECONDS_ pg=$PG"
  echo "templates: before $SQLITE_T $PG_T; after $SQLITE_T_AFTER $PG_T_AFTER"
  echo "started $(date -u +%FT%TZ) on $(nproc) cores: $(uptime)"
} | tee "$OUT/setup.txt" >&2

for run in $(seq 1 "$RUNS"); do
  for bench in outbox latency; do
    for store in sqlite postgres; do
      for start in $STARTS; do
        for which in before after; do
          if [[ $which == before ]]; then bin=$BEFORE; st=$SQLITE_T; pt=$PG_T
          else bin=$AFTER; st=$SQLITE_T_AFTER; pt=$PG_T_AFTER; fi
          args=(bench "$bench")
          if [[ $bench == outbox ]]; then args+=(--messages "$MESSAGES")
          else args+=(--rate "$RATE" --seconds "$SECONDS_"); fi
          if [[ $store == postgres ]]; then args+=(--store "$PG"); fi
          if [[ $start == large ]]; then
            if [[ $store == sqlite ]]; then args+=(--template "$st"); else args+=(--template "$pt"); fi
          fi
          name=$which-$bench-$store-$start-run$run
          echo "[$(date -u +%T)] $name: $(uptime | sed 's/.*load average/load average/')" >&2
          {
            echo "uptime before: $(uptime)"
            echo "command: $bin ${args[*]}"
          } > "$OUT/$name.txt"
          rc=0
          "$bin" "${args[@]}" >> "$OUT/$name.txt" 2> "$OUT/$name.err" || rc=$?
          {
            echo "exit code: $rc"
            echo "uptime after: $(uptime)"
          } >> "$OUT/$name.txt"
        done
      done
    done
  done
done

# --- summary ------------------------------------------------------------------------------------
# One row per run, from the reports: outbox delivery messages/s and ingest records/s; latency
# ingest request → applied at the portal p50 / p99 / max (ms); load average (1 min) at the start.
summary() {
  printf 'binary\tbench\tstore\tstart\trun\tmsgs/s\tingest/s\tp50ms\tp99ms\tmaxms\tload\texit\n'
  for f in "$OUT"/*-run*.txt; do
    base=$(basename "$f" .txt)
    IFS=- read -r which bench store start run <<< "$base"
    awk -v w="$which" -v b="$bench" -v s="$store" -v st="$start" -v r="${run#run}" '
      /^uptime before:/ { load = $0; sub(/.*load average: /, "", load); sub(/,.*/, "", load) }
      /^  ingest \(Store::ingest/ { ingest = $NF }
      /^  delivery until the outbox is empty/ { msgs = $NF }
      /^  ingest request → applied at the portal/ { p50 = $(NF-4); p99 = $(NF-2); max = $NF }
      /^exit code:/ { rc = $3 }
      END {
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w, b, s, st, r,
          (msgs == "" ? "-" : msgs), (ingest == "" ? "-" : ingest),
          (p50 == "" ? "-" : p50), (p99 == "" ? "-" : p99), (max == "" ? "-" : max),
          load, rc
      }' "$f"
  done | sort -t$'\t' -k2,2 -k3,3 -k4,4 -k1,1r -k5,5n
}
summary > "$OUT/summary.tsv"
column -t -s$'\t' "$OUT/summary.tsv"
echo "results: $OUT (finished $(date -u +%FT%TZ), $(uptime))" >&2
