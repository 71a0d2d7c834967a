#!/usr/bin/env bash
# Runs every aijobs benchmark and prints a summary. Each figure is compared
# with a reference measured in the same run (see BENCHMARKS.md).
#
#   bench/run.sh                       # everything, 2 rounds each (about 35 min)
#   ONLY="poll latency" bench/run.sh   # a subset of: poll throughput-sqlite throughput-postgres throughput-sqlite-1user throughput-postgres-1user latency latency-burst idle idle-big followcpu recovery webhooks-sqlite webhooks-postgres fairshare
#   QUICK=1 bench/run.sh               # a short smoke run (small sizes, 1 round)
#
# Environment: ROUNDS (default 2), WORK (directory for binaries, logs and
# databases; default a new temporary one), AIJOBS_BENCH_POSTGRES (admin URL
# of the PostgreSQL to create per-run databases in; default
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable), IDLE_BIG_N (the
# connections of idle-big, the linearity point; default 19000, which fits an
# open-file limit of 20000: 50000 needs `ulimit -n` above 50100, i.e.
# CAP_SYS_RESOURCE), PROFILE=1 (CPU
# profiles of the poll handler and of the SQLite throughput run).
# Needs: Go, wrk for poll (apt-get install -y wrk), a PostgreSQL for throughput-postgres,
# recovery and fairshare.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
WORK=${WORK:-$(mktemp -d /tmp/aijobs-bench.XXXXXX)}
ONLY=${ONLY:-"poll throughput-sqlite throughput-postgres throughput-sqlite-1user throughput-postgres-1user latency latency-burst idle idle-big followcpu recovery webhooks-sqlite webhooks-postgres fairshare"}
QUICK=${QUICK:-0}
mkdir -p "$WORK"

# 10,000 idle connections need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
	echo "warning: open-file limit $(ulimit -n) is below 12000; the idle benchmark will fail to open 10,000 streams" >&2
fi
case " $ONLY " in *" poll "*) # only poll drives wrk
	command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; } ;;
esac

echo "building into $WORK"
go build -o "$WORK/" ./cmd/aijobs ./bench/cmd/...

if [ "$QUICK" = 1 ]; then
	ROUNDS=1
	WH="-n 500"
	POLL="-d 3s"; TP="-n 2000"; LAT="-streams 200 -window 10s"; IDLE="-n 1000"; IDLE_BIG_N=${IDLE_BIG_N:-2000}; FOLLOW="-jobs 200 -window 4s -cycles 1 -delay 2s -spread 2s"; FAIR="-n 300"
else
	WH="-n 1000"
	POLL="-d 10s"; TP="-n 10000"; LAT="-streams 1000 -window 30s"; IDLE="-n 10000"; FOLLOW="-jobs 1000 -window 10s -cycles 2 -delay 6s"; FAIR="-n 1000"
fi
PROF=""; TPPROF=""
if [ "${PROFILE:-0}" = 1 ]; then PROF="-profbin $WORK/profserve"; TPPROF="-profbin $WORK/profserve"; fi

run() { # name timeout command…
	local name=$1 limit=$2; shift 2
	echo "== $name: $*" | tee "$WORK/$name.out"
	if ! ( cd "$WORK" && timeout "$limit" "$@" ) 2>&1 | tee -a "$WORK/$name.out"; then
		echo "SUMMARY $name FAILED (see $WORK/$name.out)" | tee -a "$WORK/$name.out"
	fi
}

for b in $ONLY; do
	case $b in
	poll) run poll 15m ./poll -aijobs ./aijobs -bare ./bareserver -work "$WORK" -rounds "$ROUNDS" $POLL $PROF ;;
	throughput-sqlite | throughput-postgres) # many users: 500 backend tokens
		run "$b" 30m ./throughput -db "${b#throughput-}" -aijobs ./aijobs -bareriver ./bareriver -work "$WORK" -rounds "$ROUNDS" $TP -submitters 32 -workers 100 $TPPROF ;;
	throughput-sqlite-1user | throughput-postgres-1user) # one backend token for every submit
		db=${b#throughput-}; db=${db%-1user}
		run "$b" 30m ./throughput -db "$db" -aijobs ./aijobs -bareriver ./bareriver -work "$WORK" -rounds "$ROUNDS" $TP -submitters 32 -workers 100 -users 1 -submit-rate 100000 ;;
	latency) run latency 15m ./latency -aijobs ./aijobs -bare ./bareserver -work "$WORK" -rounds "$ROUNDS" $LAT ;;
	latency-burst) run latency-burst 15m ./latency -aijobs ./aijobs -bare ./bareserver -work "$WORK" -rounds "$ROUNDS" $LAT -spread 0 ;;
	idle) run idle 20m ./idle -aijobs ./aijobs -bare ./bareserver -work "$WORK" -rounds "$ROUNDS" $IDLE ;;
	idle-big) # the same per connection at a larger count: linear or not (4 source addresses: ephemeral ports)
		run idle-big 30m ./idle -aijobs ./aijobs -bare ./bareserver -work "$WORK" -rounds "$ROUNDS" -n "${IDLE_BIG_N:-19000}" -sources 4 -kinds bare,sse-job,cable ;;
	followcpu) run followcpu 15m ./followcpu -aijobs ./aijobs -work "$WORK" -rounds "$ROUNDS" $FOLLOW ;;
	recovery) run recovery 15m ./recovery -aijobs ./aijobs -work "$WORK" -rounds "$ROUNDS" ;;
	webhooks-sqlite | webhooks-postgres) # unpaced (saturated), then paced at 50 jobs/s
		db=${b#webhooks-}
		run "$b" 20m sh -c "./webhooks -db $db -aijobs ./aijobs -work '$WORK' -rounds $ROUNDS $WH && ./webhooks -db $db -aijobs ./aijobs -work '$WORK' -rounds $ROUNDS $WH -rate 50" ;;
	fairshare) run fairshare 15m ./fairshare -aijobs ./aijobs -work "$WORK" -rounds "$ROUNDS" $FAIR ;;
	*) echo "unknown benchmark $b" >&2; exit 2 ;;
	esac
done

echo
echo "==== summary ($(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)); logs in $WORK ===="
cat "$WORK"/*.out | sed -n 's/^SUMMARY //p'
