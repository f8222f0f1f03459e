#!/bin/sh
# SPDX-License-Identifier: ISC
# testservice-smoke.sh: start the HTTP test service on a free port and check
# every endpoint and fault mode with curl and jq.  Exits non-zero on any
# mismatch.  Bounded: every curl has --max-time, and a watchdog stops the
# script after $SMOKE_DEADLINE seconds (default 60; a normal run takes a few).
#
#   TESTSERVICE=./tests/testservice sh tests/testservice-smoke.sh
#   TESTSERVICE_WRAPPER='valgrind -q --error-exitcode=99 --leak-check=full' \
#       sh tests/testservice-smoke.sh
#
# With a wrapper, a non-zero exit status of the service at SIGTERM (e.g.
# valgrind's error exit code) fails the run.

set -u

TESTSERVICE=${TESTSERVICE:-./tests/testservice}
WRAPPER=${TESTSERVICE_WRAPPER:-}
MAXTIME=${SMOKE_MAX_TIME:-5}
DEADLINE=${SMOKE_DEADLINE:-60}

for tool in curl jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "smoke: $tool not found" >&2
		exit 77
	fi
done
if [ ! -x "$TESTSERVICE" ]; then
	echo "smoke: $TESTSERVICE is not an executable" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tssmoke.XXXXXX") || exit 1
pass=0
fail=0
svcpid=
svc2pid=

cleanup() {
	for p in $svcpid $svc2pid; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "smoke: stopped (deadline or signal)" >&2; exit 1' INT TERM

# Watchdog: ends by itself within a second once this script is gone.
(
	n=0
	while [ "$n" -lt "$DEADLINE" ] && kill -0 $$ 2>/dev/null; do
		sleep 1
		n=$((n + 1))
	done
	kill -0 $$ 2>/dev/null && kill -TERM $$
) </dev/null >/dev/null 2>&1 &

check() {
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: expected [$2], got [$3]" >&2
	fi
}

# check_true DESC COMMAND...: the command succeeds.
check_true() {
	desc=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $desc" >&2
	fi
}

# start NAME ARGS...: start a service, wait for its port on stdout (a FIFO,
# so no polling), check the port file says the same.  Sets $port, $pid.
start() {
	name=$1
	shift
	mkfifo "$tmp/$name.fifo" || exit 1
	$WRAPPER "$TESTSERVICE" -P "$tmp/$name.port" "$@" \
	    >"$tmp/$name.fifo" 2>"$tmp/$name.err" &
	pid=$!
	port=
	read -r port <"$tmp/$name.fifo"
	case $port in
	'' | *[!0-9]*)
		echo "smoke: $name did not start:" >&2
		cat "$tmp/$name.err" >&2
		exit 1
		;;
	esac
	check "$name port file" "$port" "$(cat "$tmp/$name.port")"
	check "$name no temporary port file" no \
	    "$(test -e "$tmp/$name.port.tmp" && echo yes || echo no)"
}

# stop PID NAME: SIGTERM must end the service with status 0.
stop() {
	kill -TERM "$1"
	wait "$1"
	st=$?
	check "$2 exits 0 on SIGTERM" 0 "$st"
	if [ "$st" -ne 0 ]; then
		cat "$tmp/$2.err" >&2
	fi
}

# req METHOD PATH [CURL ARGS...]: sets $code and $rc; body in $tmp/body,
# headers in $tmp/hdr.
req() {
	m=$1
	p=$2
	shift 2
	code=$(curl -sS --max-time "$MAXTIME" -o "$tmp/body" -D "$tmp/hdr" \
	    -w '%{http_code}' -X "$m" "$@" "$B$p" 2>"$tmp/curl.err")
	rc=$?
}

# jqb FILTER: apply a jq filter to the last body.
jqb() {
	jq -r "$1" "$tmp/body" 2>/dev/null || echo "(not JSON)"
}

# hdr NAME: the first header NAME of the last reply.
hdr() {
	tr -d '\r' <"$tmp/hdr" | awk -v n="$(echo "$1" | tr '[:upper:]' '[:lower:]')" '
	    { i = index($0, ":") }
	    i > 0 && tolower(substr($0, 1, i - 1)) == n {
		print substr($0, i + 2); exit
	    }'
}

# nhdr NAME: how many NAME headers the last reply had.
nhdr() {
	tr -d '\r' <"$tmp/hdr" | awk -v n="$(echo "$1" | tr '[:upper:]' '[:lower:]')" '
	    { i = index($0, ":") }
	    i > 0 && tolower(substr($0, 1, i - 1)) == n { c++ }
	    END { print c + 0 }'
}

# fault JSON: install a fault.
fault() {
	req POST /_control/faults -d "$1"
	check "install fault $1" 201 "$code"
}

# fault1 PREFIX FAULT: a fault for the next request under PREFIX.
fault1() {
	fault "{\"match\": {\"path_prefix\": \"$1\"}, \"count\": 1,
	    \"fault\": $2}"
}

# advance MS: move the service clock on.
advance() {
	req POST /_control/clock -d "{\"advance_ms\": $1}"
	check "advance clock $1" 200 "$code"
}

start svc -d 60000
svcpid=$pid
B=http://127.0.0.1:$port
BASE=$B

# ---- health, unknown paths ----
req GET /_control/health
check "health" 200 "$code"
check "health port" "$port" "$(jqb .port)"
req GET /nope
check "unknown path" 404 "$code"
check "unknown path JSON error" NotFound "$(jqb .error.code)"
check "unknown path content type" application/json "$(hdr Content-Type)"
req PATCH /tasks/1
check "method not allowed" 405 "$code"
check "405 Allow header" "GET, HEAD, DELETE" "$(hdr Allow)"
req GET /_control/nope
check "unknown control path" 404 "$code"

# ---- API 1 ----
req POST /object/obj-a/publish -d '{"duration_ms": 100000}'
check "publish" 201 "$code"
check "publish task_id" 1 "$(jqb .task_id)"
check "publish Location" /tasks/1 "$(hdr Location)"
req GET /tasks/1
check "get running" running "$(jqb .state)"
check "get object" obj-a "$(jqb .object)"
check "get progress in [0,1)" true "$(jqb '.progress >= 0 and .progress < 1')"
check "get result null" null "$(jqb .result)"
req POST /object/obj-b/publish \
    -d '{"duration_ms": 100000, "outcome": "error", "message": "boom"}'
check "publish error task" 2 "$(jqb .task_id)"
req POST /object/obj-c/publish \
    -d '{"duration_ms": 100000, "result": {"url": "x"}}'
check "publish result task" 3 "$(jqb .task_id)"
req POST '/object/obj-d/publish?duration_ms=0'
check "publish with query option" 201 "$code"
req GET /tasks/4
check "duration 0 is done at once" "done" "$(jqb .state)"
check "default result" '{"id":4,"object":"obj-d"}' \
    "$(jq -c .result "$tmp/body")"
check "done progress" 1 "$(jqb '.progress')"
advance 100000
req GET /tasks/1
check "done after clock advance" "done" "$(jqb .state)"
req GET /tasks/2
check "error state" error "$(jqb .state)"
check "error message" boom "$(jqb .message)"
req GET /tasks/3
check "given result" x "$(jqb .result.url)"
req GET /tasks/999
check "unknown task" 404 "$code"
req GET /tasks/abc
check "non-numeric task id" 404 "$code"
req HEAD /tasks/1 -I
check "HEAD" 200 "$code"

# cancel
req POST /tasks -d '{"duration_ms": 100000, "object": "gen"}'
check "POST /tasks" 201 "$code"
check "POST /tasks Location" "/tasks/5" "$(hdr Location)"
check "POST /tasks object" 5 "$(jqb .task_id)"
req DELETE /tasks/5
check "cancel running" 200 "$code"
check "cancel state" cancelled "$(jqb .state)"
req DELETE /tasks/5
check "cancel twice" 409 "$code"
req DELETE /tasks/1
check "cancel finished" 409 "$code"
req POST /tasks -d '{"duration_ms": 100000, "cancellable": false}'
req DELETE /tasks/6
check "cancel uncancellable" 409 "$code"
check "uncancellable message" "task 6 cannot be cancelled" "$(jqb .message)"
req DELETE /tasks/12345
check "cancel unknown" 404 "$code"
req POST /tasks -d '{"duration_ms": 100000, "outcome": "cancelled"}'
advance 100000
req GET /tasks/7
check "remote cancellation outcome" cancelled "$(jqb .state)"

# search
req POST /tasks/search -d '{"task_id": [1, 2, 999, 1, 3]}'
check "search POST" 200 "$code"
check "search POST ids" "1,2,3" "$(jqb '[.[].id] | map(tostring) | join(",")')"
check "search POST states" "done,error,done" \
    "$(jqb '[.[].state] | join(",")')"
req GET '/tasks/search?task_id=1&task_id=2&task_id=77'
check "search GET repeated" "1,2" \
    "$(jqb '[.[].id] | map(tostring) | join(",")')"
req GET '/tasks/search?task_id=1,2,3'
check "search GET comma list" "1,2,3" \
    "$(jqb '[.[].id] | map(tostring) | join(",")')"
req POST /tasks/search -d '{"task_id": []}'
check "search empty" 0 "$(jqb length)"
req POST /tasks/search -d '{"ids": [1]}'
check "search without task_id" 400 "$code"
req GET '/tasks/search?task_id=x'
check "search bad id" 400 "$code"

# idempotency
req GET /_control/tasks
n0=$(jqb .count)
req POST /tasks -H 'Idempotency-Key: key-1' -d '{"duration_ms": 5000}'
check "idempotent create" 201 "$code"
id1=$(jqb .task_id)
req POST /tasks -H 'Idempotency-Key: key-1' -d '{"duration_ms": 5000}'
check "idempotent replay status" 200 "$code"
check "idempotent replay id" "$id1" "$(jqb .task_id)"
check "idempotent replay header" true "$(hdr Idempotent-Replayed)"
req POST /object/z/publish -H 'Repeatability-Request-ID: key-2'
id2=$(jqb .task_id)
req POST /object/z/publish -H 'Repeatability-Request-ID: key-2'
check "repeatability replay" "$id2" "$(jqb .task_id)"
req POST /object/other/publish -H 'Repeatability-Request-ID: key-2'
check "key reused for another request" 422 "$code"
req GET /_control/tasks
check "replays create nothing" $((n0 + 2)) "$(jqb .count)"
# the table's span: creations in order; the last due time is ahead (the
# publish just above has the default duration)
check "span: created in order" true \
    "$(jqb '.first_created_ms <= .last_created_ms and .last_created_ms <= .now_ms')"
check "span: last due ahead" true "$(jqb '.last_due_ms > .now_ms')"

# forced outcome
req POST /_control/tasks/"$id1" \
    -d '{"state": "done", "result": {"forced": true}}'
check "force done" 200 "$code"
req GET /tasks/"$id1"
check "forced state" "done" "$(jqb .state)"
check "forced result" true "$(jqb .result.forced)"
req POST /_control/tasks/"$id2" -d '{"state": "error", "message": "forced"}'
req GET /tasks/"$id2"
check "forced error" "error forced" "$(jqb '.state + " " + .message')"
req POST /_control/tasks/"$id2" -d '{"state": "running", "duration_ms": 1000}'
req GET /tasks/"$id2"
check "forced back to running" running "$(jqb .state)"
req GET /_control/tasks/"$id2"
check "control task dump" task "$(jqb .kind)"
req POST /_control/tasks/"$id2" -d '{"state": "sideways"}'
check "force bad state" 400 "$code"

# bad input
req POST /tasks -d '{"duration_ms": '
check "bad JSON" 400 "$code"
check "bad JSON code" InvalidJson "$(jqb .error.code)"
req POST /tasks -d '[1]'
check "non-object body" 400 "$code"
req POST /tasks -d '{"duration_ms": "soon"}'
check "bad duration" 400 "$code"
req POST /tasks -d '{"outcome": "maybe"}'
check "bad outcome" 400 "$code"
req GET '/tasks/search?task_id'
check "bad query string" 400 "$code"
head -c 17000000 /dev/zero >"$tmp/huge"
req POST /tasks --data-binary @"$tmp/huge"
check "body over 16 MiB" 413 "$code"
rm -f "$tmp/huge"

# ---- API 2: Azure-style LROs ----
req PUT '/resources/r1?mode=operation-location&duration_ms=100000' \
    -d '{"properties": {"size": 3}}'
check "PUT operation-location" 201 "$code"
check "PUT body" Creating "$(jqb .provisioningState)"
oploc=$(hdr Operation-Location)
op=${oploc##*/}
check "Operation-Location absolute" "$BASE/operations/$op" "$oploc"
req GET /resources/r1
check "resource 404 while creating" 404 "$code"
req GET /operations/"$op"
check "operation running" Running "$(jqb .status)"
check "operation id" "$op" "$(jqb .id)"
check "resourceLocation" "$BASE/resources/r1" "$(jqb .resourceLocation)"
check "no error while running" null "$(jqb .error)"
advance 100000
req GET /operations/"$op"
check "operation succeeded" Succeeded "$(jqb .status)"
req GET /resources/r1
check "resource after success" 200 "$code"
check "resource state" Succeeded "$(jqb .provisioningState)"
check "resource properties" 3 "$(jqb .properties.size)"
req PUT '/resources/r1?duration_ms=1000' -d '{"properties": {"size": 4}}'
check "PUT update" 200 "$code"
check "PUT update body" Updating "$(jqb .provisioningState)"
req GET /resources/r1
check "resource while updating" "Updating 3" \
    "$(jqb '.provisioningState + " " + (.properties.size | tostring)')"
advance 1000
req GET /resources/r1
check "resource after update" "Succeeded 4" \
    "$(jqb '.provisioningState + " " + (.properties.size | tostring)')"

req PUT '/resources/r2?mode=azure-asyncoperation&duration_ms=1000'\
'&outcome=error&code=Quota&message=no+room'
check "PUT azure-asyncoperation" 201 "$code"
check "no Operation-Location" "" "$(hdr Operation-Location)"
asyncop=$(hdr Azure-AsyncOperation)
check "Azure-AsyncOperation" "$BASE/operations/${asyncop##*/}" "$asyncop"
advance 1000
req GET /operations/"${asyncop##*/}"
check "operation failed" Failed "$(jqb .status)"
check "failure code" Quota "$(jqb .error.code)"
check "failure message" "no room" "$(jqb .error.message)"

req PUT '/resources/r3?mode=operation-location&final_state_via=location'
check "final-state-via location" "$BASE/resources/r3" "$(hdr Location)"
req PUT '/resources/r4?mode=operation-location&final_state_via=original-uri'
check "final-state-via original-uri" 0 "$(nhdr Location)"
req PUT /resources/r5 \
    -d '{"mode": "operation-location", "retry_after": 3, "duration_ms": 5000}'
check "options in the body" 201 "$code"
check "Retry-After on create" 3 "$(hdr Retry-After)"
req GET /operations/"$(hdr Operation-Location | sed 's,.*/,,')"
check "Retry-After while running" 3 "$(hdr Retry-After)"

req PUT '/resources/s1?mode=status'
check "status mode created" 201 "$code"
check "status mode final" Succeeded "$(jqb .provisioningState)"
check "status mode no header" 0 "$(($(nhdr Operation-Location) + \
    $(nhdr Location) + $(nhdr Azure-AsyncOperation)))"
req PUT '/resources/s1?mode=status'
check "status mode update" 200 "$code"

req PUT '/resources/h1?header_host=http://evil.example:1234&duration_ms=1000'
hop=$(hdr Operation-Location | sed 's,.*/,,')
check "header_host Operation-Location" \
    "http://evil.example:1234/operations/$hop" "$(hdr Operation-Location)"
req GET /operations/"$hop"
check "header_host resourceLocation" \
    "http://evil.example:1234/resources/h1" "$(jqb .resourceLocation)"

req PUT '/resources/c1?duration_ms=100000&status_case=lower'\
'&cancel_spelling=cancelled'
cop=$(hdr Operation-Location | sed 's,.*/,,')
req GET /operations/"$cop"
check "lower-case running" running "$(jqb .status)"
req DELETE /operations/"$cop"
check "cancel operation" 200 "$code"
check "British cancelled, lower case" cancelled "$(jqb .status)"
req DELETE /operations/"$cop"
check "cancel operation twice" 409 "$code"
req PUT '/resources/c2?duration_ms=100000&cancellable=false'
req DELETE /operations/"$(hdr Operation-Location | sed 's,.*/,,')"
check "cancel uncancellable operation" 409 "$code"
req PUT '/resources/c3?duration_ms=100000'
cop=$(hdr Operation-Location | sed 's,.*/,,')
req DELETE /operations/"$cop"
check "Canceled (Azure spelling)" Canceled "$(jqb .status)"
req PUT '/resources/c4?duration_ms=1000&status_case=upper'
cop=$(hdr Operation-Location | sed 's,.*/,,')
advance 1000
req GET /operations/"$cop"
check "upper-case status" SUCCEEDED "$(jqb .status)"
req PUT '/resources/n1?duration_ms=100000&not_started_ms=50000'
req GET /operations/"$(hdr Operation-Location | sed 's,.*/,,')"
check "NotStarted" NotStarted "$(jqb .status)"
req GET /operations/999999
check "unknown operation" 404 "$code"

# POST action, Location polling
req POST \
    '/resources/r1/actions/build?mode=location&duration_ms=1000&retry_after=1'
check "action accepted" 202 "$code"
loc=$(hdr Location)
res=${loc##*/}
check "action Location" "$BASE/results/$res" "$loc"
req GET /results/"$res"
check "result while running" 202 "$code"
check "result Retry-After" 1 "$(hdr Retry-After)"
advance 1000
req GET /results/"$res"
check "result done" 200 "$code"
check "result body" r1 "$(jqb .built)"
req POST '/resources/r1/actions/build?duration_ms=0&final_status=204'
req GET /results/"$(hdr Location | sed 's,.*/,,')"
check "result 204" 204 "$code"
check "result 204 no body" 0 "$(wc -c <"$tmp/body" | tr -d ' ')"
req POST '/resources/r1/actions/build?duration_ms=0&final_status=201'
req GET /results/"$(hdr Location | sed 's,.*/,,')"
check "result 201" 201 "$code"
req POST '/resources/r1/actions/build?duration_ms=0&outcome=error'
req GET /results/"$(hdr Location | sed 's,.*/,,')"
check "failed result" 500 "$code"
check "failed result error" OperationFailed "$(jqb .error.code)"
req POST '/resources/r1/actions/build?mode=status'
check "action status mode" 200 "$code"
check "action status body" r1 "$(jqb .built)"
req POST '/resources/r1/actions/build?mode=operation-location'\
'&final_state_via=location&duration_ms=0'
check "action operation-location" 202 "$code"
check "action Location with final-state-via" \
    "$BASE/results/$(hdr Operation-Location | sed 's,.*/,,')" "$(hdr Location)"
req PUT '/resources/i1?duration_ms=1000' -H 'Repeatability-Request-ID: put-1'
iop=$(hdr Operation-Location)
req PUT '/resources/i1?duration_ms=1000' -H 'Repeatability-Request-ID: put-1'
check "PUT replay status" 200 "$code"
check "PUT replay same operation" "$iop" "$(hdr Operation-Location)"
req PUT '/resources/r1?mode=sideways'
check "bad mode" 400 "$code"

# ---- faults ----
req DELETE /_control/requests
fault '{"match": {"method": "GET", "path_prefix": "/tasks/search"},
    "count": 2, "fault": {"status": 503, "retry_after": "2"}}'
req GET '/tasks/search?task_id=1'
check "fault 503" 503 "$code"
check "fault Retry-After" 2 "$(hdr Retry-After)"
check "fault JSON body" InjectedFault "$(jqb .error.code)"
req GET '/tasks/search?task_id=1'
check "fault 503 again" 503 "$code"
req GET '/tasks/search?task_id=1'
check "fault count used up" 200 "$code"
req POST /tasks/search -d '{"task_id": [1]}'
check "fault matches the method only" 200 "$code"
for s in 500 502 504 408; do
	fault1 /tasks/1 "{\"status\": $s}"
	req GET /tasks/1
	check "fault $s" "$s" "$code"
done
fault1 /tasks/1 \
    '{"status": 429, "retry_after_date": true, "body": {"slow": "down"}}'
req GET /tasks/1
check "fault 429" 429 "$code"
check "fault body as JSON" down "$(jqb .slow)"
date_re='^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
check "Retry-After HTTP-date" yes \
    "$(hdr Retry-After | grep -Eq "$date_re" && echo yes)"
fault1 /tasks/1 '{"status": 503, "retry_after_ms": 1500}'
req GET /tasks/1
check "retry-after-ms" 1500 "$(hdr retry-after-ms)"
fault1 /tasks/1 \
    '{"body": "not json at all", "status": 200, "content_type": "text/html"}'
req GET /tasks/1
check "garbage status" 200 "$code"
check "garbage body" "not json at all" "$(cat "$tmp/body")"
check "garbage content type" text/html "$(hdr Content-Type)"
fault1 /tasks/1 '{"retry_after": "7"}'
req GET /tasks/1
check "headers-only fault keeps the answer" "done" "$(jqb .state)"
check "headers-only fault adds Retry-After" 7 "$(hdr Retry-After)"

fault1 /tasks/1 '{"reset": true}'
req GET /tasks/1
check "reset: curl 52 (empty reply)" 52 "$rc"
fault1 /tasks/1 '{"reset": true, "rst": true}'
req GET /tasks/1
check "rst: curl 56 (connection reset)" 56 "$rc"
fault1 /tasks/1 '{"reset_mid_body": true}'
req GET /tasks/1
check "reset_mid_body: curl 56" 56 "$rc"
fault1 /tasks/1 '{"truncated": true}'
req GET /tasks/1
check "truncated: curl 18 (partial)" 18 "$rc"
fault1 /tasks/1 '{"oversized_bytes": 50000000}'
size=$(curl -sS --max-time "$MAXTIME" -o /dev/null -w '%{size_download}' \
    "$B/tasks/1")
check "oversized: 50,000,000 bytes" 50000000 "$size"
fault1 /tasks/1 '{"oversized_bytes": 300000, "chunked": true}'
req GET /tasks/1
check "oversized chunked is valid JSON" 299990 "$(jqb '.pad | length')"
check "oversized chunked encoding" chunked "$(hdr Transfer-Encoding)"
fault1 /tasks/1 '{"oversized_bytes": 100000000}'
size=$(curl -sS --max-time "$MAXTIME" "$B/tasks/1" 2>/dev/null |
    head -c 1000 | wc -c)
check "oversized: client may stop reading" 1000 "$(echo "$size" | tr -d ' ')"

fault1 /tasks/1 '{"delay_ms": 1200}'
t=$(curl -sS --max-time "$MAXTIME" -o "$tmp/body" -w '%{time_total}' \
    "$B/tasks/1")
check "delay answers" "done" "$(jqb .state)"
check "delay at least 1.1 s" yes \
    "$(echo "$t" | awk '$1 >= 1.1 { print "yes" }')"
fault1 /tasks/1 '{"delay_ms": 1000}'
curl -sS --max-time 0.3 -o /dev/null "$B/tasks/1" 2>/dev/null
check "client timeout during a delay" 28 "$?"
fault1 /object/late '{"delay_ms": 800}'
curl -sS --max-time 0.1 -o /dev/null -X POST -H 'Idempotency-Key: late-1' \
    "$B/object/late/publish" 2>/dev/null
check "create whose answer is lost times out" 28 "$?"
req POST /object/late/publish -H 'Idempotency-Key: late-1'
check "retried create" 201 "$code"
late=$(jqb .task_id)
# wait (bounded) until the service has handled the delayed original
n=0
while [ "$n" -lt 50 ]; do
	req GET /_control/requests
	[ "$(jqb '[.recent[] | select(.idempotency_key == "late-1" and
	    .status != null)] | length')" = 2 ] && break
	sleep 0.1
	n=$((n + 1))
done
check "delayed original replayed the retry's task" "200 201" \
    "$(jqb '[.recent[] | select(.idempotency_key == "late-1") | .status] |
    sort | map(tostring) | join(" ")')"
req GET /_control/tasks/"$late"
check "lost answer and retry made one task" late "$(jqb .object)"
req GET /_control/tasks
check "no duplicate task" "$late" "$(jqb .count)"
req GET /_control/faults
check "fault list" 0 "$(jqb '[.[] | select(.count_left != 0)] | length')"

fault '{"match": {"path_prefix": "/tasks/1"}, "count": -1,
    "fault": {"redirect_loop": true}}'
curl -sS -L --max-redirs 3 --max-time "$MAXTIME" -o /dev/null "$B/tasks/1" \
    2>/dev/null
check "redirect loop: curl 47 (too many redirects)" 47 "$?"
req GET /tasks/1
check "redirect loop status" 302 "$code"
check "redirect loop to itself" "$BASE/tasks/1" "$(hdr Location)"
req DELETE /_control/faults
check "clear faults" 200 "$code"
req GET /tasks/1
check "after clearing faults" 200 "$code"

# redirect to another host: curl drops Authorization (localhost is
# another host than 127.0.0.1 to a client)
req POST /_control/auth -d '{"bearer": "secret"}'
check "auth on" true "$(jqb .required)"
req GET /tasks/1
check "auth missing" 401 "$code"
check "WWW-Authenticate" Bearer "$(hdr WWW-Authenticate | cut -d' ' -f1)"
req GET /tasks/1 -H 'Authorization: Bearer wrong'
check "auth wrong" 401 "$code"
req GET /tasks/1 -H 'Authorization: Bearer secret'
check "auth right" 200 "$code"
req GET /_control/health
check "control needs no auth" 200 "$code"
fault1 /tasks/2 "{\"redirect_to\": \"http://localhost:$port/tasks/3\"}"
req DELETE /_control/requests
curl -sS -L --max-time "$MAXTIME" -o "$tmp/body" -w '%{http_code}' \
    -H 'Authorization: Bearer secret' "$B/tasks/2" >"$tmp/code" 2>/dev/null
check "redirect to another host: 401 there" 401 "$(cat "$tmp/code")"
req GET /_control/requests
check "first request carried the token" "Bearer secret" \
    "$(jqb '.recent[0].authorization')"
check "redirected request went to /tasks/3" /tasks/3 "$(jqb '.recent[1].path')"
check "redirected request had no token" null \
    "$(jqb '.recent[1].authorization')"
req POST /_control/auth -d '{"bearer": null}'
check "auth off" false "$(jqb .required)"
req GET /tasks/1
check "no auth needed again" 200 "$code"

# ---- request log ----
req DELETE /_control/requests
req POST /tasks/search -d '{"task_id": [1]}' -A smoke-agent \
    -H 'Idempotency-Key: ik'
req GET /tasks/1
req GET /tasks/2
req GET /_control/requests
check "log total" 3 "$(jqb .total)"
check "log by_route search" 1 "$(jqb '.by_route["POST /tasks/search"]')"
check "log by_route get" 2 "$(jqb '.by_route["GET /tasks/:id"]')"
check "log by_version" 3 "$(jqb '.by_version["HTTP/1.1"]')"
check "log user agent" smoke-agent "$(jqb '.recent[0].user_agent')"
check "log idempotency key" ik "$(jqb '.recent[0].idempotency_key')"
check "log body bytes" 16 "$(jqb '.recent[0].body_bytes')"
check "log http version" HTTP/1.1 "$(jqb '.recent[0].http_version')"
check "log status" 200 "$(jqb '.recent[1].status')"
check "log control requests not counted" 3 "$(jqb '.recent | length')"
curl -sS --http1.0 --max-time "$MAXTIME" -o /dev/null "$B/tasks/1"
req GET /_control/requests
check "log HTTP/1.0" 1 "$(jqb '.by_version["HTTP/1.0"]')"
req DELETE /_control/requests
req GET /_control/requests
check "log reset" 0 "$(jqb .total)"

# ---- task table, clock, reset ----
req GET /_control/tasks
check "task summary" true \
    "$(jqb '.count > 20 and .by_state.done > 0 and .by_kind.resource > 0')"
req GET /_control/clock
check "clock offset" true "$(jqb '.offset_ms >= 300000')"
req POST /_control/faults -d '{"fault": {"sttus": 500}}'
check "unknown fault key" 400 "$code"
req POST /_control/faults -d '{"count": 0, "fault": {"status": 500}}'
check "bad fault count" 400 "$code"
req POST /_control/reset
check "reset" 200 "$code"
req GET /_control/tasks
check "reset empties the table" 0 "$(jqb .count)"
req POST /object/again/publish
check "ids restart after reset" 1 "$(jqb .task_id)"

# a pending delayed request at shutdown must not upset a clean exit
fault1 /tasks/1 '{"delay_ms": 30000}'
curl -sS --max-time "$MAXTIME" -o /dev/null "$B/tasks/1" 2>/dev/null &
cpid=$!
n=0
while [ "$n" -lt 50 ]; do
	req GET /_control/faults
	[ "$(jqb '.[0].hits')" = 1 ] && break
	sleep 0.1
	n=$((n + 1))
done
check "the delayed request arrived" 1 "$(jqb '.[0].hits')"
stop "$svcpid" svc
svcpid=
wait "$cpid"
check "delayed client sees the close" 52 "$?"

# ---- table cap (a second service) ----
start cap -m 2 -d 0
svc2pid=$pid
B=http://127.0.0.1:$port
req POST /tasks
req POST /tasks
check "below the cap" 201 "$code"
req POST /tasks
check "table full" 507 "$code"
stop "$svc2pid" cap
svc2pid=

echo "testservice smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
