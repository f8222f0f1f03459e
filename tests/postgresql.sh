#!/bin/sh
# SPDX-License-Identifier: ISC
# postgresql.sh: pollexd with "store": "postgresql" against a PostgreSQL
# this test starts itself (initdb and pg_ctl from Debian's postgresql-15 on
# a private Unix socket in a temporary directory; no system service).
#
# - a Submit is acknowledged once its rows are in PostgreSQL (read back
#   with psql right after the reply);
# - a kill -9 loses nothing: a new pollexd loads the tasks;
# - a second pollexd on the same database is refused (its lock);
# - PostgreSQL stopped: Submit gets io.pollex.StoreFailed at once, named;
#   a Cancel made meanwhile waits; pollexd says so in its log and Stats,
#   reconnects when PostgreSQL is back, and the Cancel completes and is in
#   the table.
# A missing PostgreSQL is a failure, not a skip (the suite needs it).
# Every wait is bounded.
set -u

: "${POLLEXD:?}" "${POLLEXCTL:?}"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
	echo "FAIL: the PostgreSQL server is not installed (postgresql-15:" \
	    "scripts/install-deps installs it)"
	exit 1
fi
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/pollex-pg.XXXXXX")
chmod 755 "$dir"
pid= pid2=
pgdata=$dir/pgdata
pgsock=$dir/pgsock
# PostgreSQL refuses to run as root: as root, its programs run as the
# postgres user (the package's), on directories it owns.
if [ "$(id -u)" -eq 0 ]; then
	aspg() { runuser -u postgres -- "$@"; }
else
	aspg() { "$@"; }
fi
mkdir "$pgsock"
[ "$(id -u)" -eq 0 ] && chown postgres "$pgsock"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"

pg_start() {
	aspg "$pgbin/pg_ctl" -D "$pgdata" -l "$dir/pg.log" -w -t 30 \
	    -o "-k $pgsock -c listen_addresses= -p 5432 -c fsync=off" \
	    start >/dev/null || { cat "$dir/pg.log"; fail "PostgreSQL did not start"; }
}
pg_stop() {
	aspg "$pgbin/pg_ctl" -D "$pgdata" -w -t 30 -m "${1:-fast}" stop \
	    >/dev/null 2>&1
}
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$pid2" ] && kill -KILL "$pid2" 2>/dev/null
	[ -f "$pgdata/postmaster.pid" ] && pg_stop immediate
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- pollexd log"; cat "$dir/log" 2>/dev/null
	exit 1
}

conninfo="host=$pgsock port=5432 dbname=postgres user=pollex"
psql_q() {
	"$pgbin/psql" -X -A -t -q -d "$conninfo" -c "$1"
}

aspg "$pgbin/initdb" -D "$pgdata" -A trust -U pollex --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; fail "initdb failed"; }
pg_start

sock=$dir/p.sock
cat >"$dir/pollexd.conf" <<CONF
{
  "store": "postgresql",
  "postgresql": {"conninfo": "$conninfo"},
  "pollers": {
    "p": {"kind": "exec", "interval": "1h",
          "poll": ["/bin/sh", "-c", "cat >/dev/null; echo '{}'"]}
  }
}
CONF

ctl() { timeout 30 "$POLLEXCTL" -S "$sock" --io-timeout 20s "$@"; }

start_daemon() {
	"$POLLEXD" -c "$dir/pollexd.conf" -S "$sock" --state-dir "$dir/state" \
	    >>"$dir/log" 2>&1 &
	pid=$!
	i=0
	until "$POLLEXCTL" -S "$sock" --io-timeout 1s stats >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || fail "pollexd exited at start"
		i=$((i + 1))
		[ $i -lt 200 ] || fail "pollexd did not answer within 10s"
		sleep 0.05
	done
}

# --- acknowledged means in PostgreSQL
start_daemon
ids=
for n in 1 2 3; do
	id=$(ctl submit p "{\"n\": $n}") || fail "submit $n: $id"
	# Right after the reply, the row is there: the reply followed the
	# commit.
	[ "$(psql_q "SELECT state FROM pollex_tasks WHERE id = '$id'")" = \
	    pending ] || fail "task $id acknowledged but not in PostgreSQL"
	ids="$ids $id"
done
echo "ok: 3 submits, each in PostgreSQL when acknowledged"
[ "$(ctl --json stats | jq -r .store.backend)" = postgresql ] ||
	fail "Stats does not name the postgresql backend"

# --- kill -9: nothing acknowledged is lost
kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=
start_daemon
for id in $ids; do
	[ "$(ctl get --json "$id" | jq -r .state)" = pending ] ||
		fail "task $id lost after kill -9"
done
echo "ok: the tasks are back after kill -9"

# --- one daemon per database
"$POLLEXD" -c "$dir/pollexd.conf" -S "$dir/other.sock" \
    --state-dir "$dir/state2" >"$dir/log2" 2>&1 &
pid2=$!
i=0
while kill -0 "$pid2" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "a second pollexd on the same database runs"
	sleep 0.05
done
wait "$pid2"; rc=$?; pid2=
[ "$rc" -ne 0 ] || fail "the second pollexd exited 0"
grep -q "in use by another pollexd" "$dir/log2" ||
	fail "the second pollexd's refusal does not say why: $(cat "$dir/log2")"
echo "ok: a second pollexd on the same database is refused"

# --- PostgreSQL goes away
set -- $ids
pg_stop immediate
# The daemon notices (the idle connection closes), then refuses Submit.
i=0
until [ "$(ctl --json stats | jq -r .store.connected)" = false ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "Stats still says connected"
	sleep 0.05
done
out=$(ctl submit p '{"n": 9}' 2>&1); rc=$?
[ "$rc" -eq 5 ] || fail "submit with PostgreSQL down exited $rc: $out"
echo "$out" | grep -q StoreFailed || fail "submit error not named: $out"
kill -0 "$pid" || fail "pollexd died when PostgreSQL went away"
grep -q "reconnecting" "$dir/log" || fail "the log does not say it reconnects"
echo "ok: Submit refused (StoreFailed) while PostgreSQL is down"

# A cancel waits for the database: its reply needs the commit.
ctl cancel "$1" >"$dir/cancel.out" 2>&1 &
cpid=$!
pg_start
i=0
while kill -0 "$cpid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 400 ] || fail "the cancel did not complete after PostgreSQL came back"
	sleep 0.05
done
wait "$cpid" || fail "cancel failed: $(cat "$dir/cancel.out")"
[ "$(psql_q "SELECT state FROM pollex_tasks WHERE id = '$1'")" = \
    cancelled ] || fail "the cancel is not in PostgreSQL"
grep -q "connected again" "$dir/log" || fail "the log does not say it reconnected"
id=$(ctl submit p '{"n": 10}') || fail "submit after the reconnect: $id"
[ "$(psql_q "SELECT count(*) FROM pollex_tasks")" = 4 ] ||
	fail "the table does not hold the 4 tasks"
echo "ok: reconnected; the cancel made while down is in PostgreSQL"

# --- a clean stop
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "pollexd exited $rc on SIGTERM"
echo "ok: clean stop"
exit 0
