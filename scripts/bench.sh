#!/usr/bin/env bash
# Runs the benchmarks of benches/ and prints each figure next to its same-run baseline, as a ratio
# (the machines are shared and noisy, so absolute numbers drift; ratios hold better):
#
#   1. criterion: codec (decode/encode vs memcpy), dispatch (router vs direct handler and vs
#      decode+encode alone) and matchmaking (one matching pass over 50k tickets, and pass vs a
#      naive O(n^2) pass at 5k; BENCH.md S8); zone_tick (one zone tick at 10k and 50k entities: movement, AOI and
#      encoding, vs a naive all-pairs-in-cell tick on an identical world; BENCH.md S3), with the
#      tick's p50/p99 from timed ticks after criterion's means;
#   2. conn_memory: user memory per idle connection, gateway vs a raw tokio server (BENCH.md S1);
#   3. bus_bench: bus publish/consume throughput vs redis-benchmark XADD and raw XREADGROUP, and
#      send-to-handler latency at 50k envelopes/s open loop vs raw XADD -> XREADGROUP (BENCH.md S6;
#      needs Redis at MMO_REDIS_URL, default redis://127.0.0.1:6379, and redis-benchmark);
#   4. e2e echo: mmo-bots through `mmo all` vs a bare tokio echo server, open loop 50k/s and
#      closed loop (BENCH.md S2). E2E_BOTS, E2E_SECS.
#   5. login: mmo-bots --scenario login against `mmo all` on a fresh database: LOGIN_BOTS (default
#      10000) guest (device) logins, at most LOGIN_CONCURRENCY (default 32) at once, held
#      LOGIN_HOLD_SECS (default 20) with heartbeats, with the server's memory per session; then
#      LOGIN_PW_BOTS (default 500) password registrations and, on the same accounts, password
#      logins, at most LOGIN_PW_CONCURRENCY (default 4) at once, at the default argon2id cost.
#   6. zone: mmo-bots --scenario zone against `mmo all` on a fresh database (BENCH.md S3/S4):
#      ZONE_BOTS (default 2000) guests enter the start map (about 50 others in each one's view)
#      and random-walk with ZONE_MOVE_HZ (default 10) MoveReqs/s each for ZONE_SECS (default
#      30), after a 5 s warm-up on the same accounts; ZONE_REPEAT (default 1) measured runs, the
#      median reported. Figures: the server's tick p50/p99 (its metrics endpoint, over the
#      window), entity updates delivered per second and their latency from the tick to the bot,
#      next to what the same run compares them with: the updates the zone says it sent (the
#      ratio is the share delivered) and the 50 ms tick period.
#   7. matchmaking (BENCH.md S8): mm_ingest, tickets/s through the ticket script vs the naive
#      WATCH/MULTI transaction, and through the whole server path: new players (every rating and
#      block read misses the Redis cache and goes to MySQL) and the same players requeueing
#      (cached); MM_TICKETS
#      (default 20000), MM_TASKS (default 64), MM_REPEAT (default 3). The matching pass is the
#      `matchmaking` criterion bench (one pass over 50k tickets, vs a naive O(n^2) pass).
#   8. chat (BENCH.md S5): chat_fanout, in one process: the account and chat servers and two
#      gateways on one bus (a fresh key prefix and database, both deleted after), members logged
#      in half on each gateway and joined to one custom channel, senders among them sending
#      ChatSendReq on a fixed schedule; vs redis PUBLISH to as many subscriber connections at the
#      same rate and size. Deliveries/s, p50/p99 from the schedule, lost and duplicated, and the
#      ratio chat/PUBLISH, per channel size: CHAT_MEMBERS (default 100,1000), CHAT_RATE
#      (messages/s per size, default 500,60), CHAT_SECS (window, default 4). Servers and clients
#      share the process, so nothing is pinned.
#   9. event log: event_rows, rows/s the event-log writer stores from the `events` stream into
#      MySQL (a backlog of EVENTS_N, default 100000, typed events), vs the same multi-row
#      INSERT IGNORE statements alone (the ceiling) and single-row autocommit INSERTs (naive).
#  10. leaderboard: lb_bench, against Redis at MMO_REDIS_URL (a fresh key prefix, deleted
#      after) and a fresh MySQL database: score updates/s through the server's submit path
#      (submits batched into script calls: rate bucket, best-score compare, the ZSET, player
#      hash; improved entries written behind to lb_scores), with the rank read back (the
#      default) and with skip_rank (the update alone), from LB_CLIENTS (default 200) tasks with
#      one submit in flight each, next to one script call per submit, redis-benchmark ZADD with
#      as many clients one request at a time (ratio; target >= 0.7x), with 50, and pipelined
#      LB_PIPELINE (default 16) deep; then the around-me and top-100 query
#      p50/p99 on a board of LB_MEMBERS (default 1000000) members (target p99 <= 5 ms), next
#      to raw HGET+ZRANK+ZRANGE.
#  11. shop (BENCH.md S9): shop_purchases, durable purchases/s through mmo_shop's purchase
#      transaction (wallet lock, key, funds, debit and ledger row, inventory, purchase row with
#      the encoded reply, outbox event; at most [shop] purchase_concurrency at once, 16) vs as many bare single-row INSERT+COMMIT transactions on
#      the same pool and concurrency (the ratio is what a purchase costs over a durable commit),
#      then the same purchases replayed with their keys; on a fresh database and key prefix.
#      SHOP_PURCHASES (default 20000), SHOP_PLAYERS (default 1000), SHOP_TASKS (asked at once, 64).
#
# Usage: scripts/bench.sh [CRITERION_FILTER]   e.g. scripts/bench.sh decode/1000x32B
# Environment: CONNS (default 10000, at most 19000), REPEAT (conn_memory repeats, default 1),
# HOLD (seconds to hold the connections with heartbeats after measuring, then measure again;
# default 0, use 12 or more so every connection has sent a PingReq: S1's steady state),
# SKIP_CRITERION=1, SKIP_ZONE_TICK=1, SKIP_MEMORY=1, SKIP_BUS=1, SKIP_E2E=1, SKIP_LOGIN=1 or
# SKIP_ZONE=1, SKIP_MM=1, SKIP_CHAT=1, SKIP_EVENTS=1, SKIP_LB=1 or SKIP_SHOP=1 to leave a part out;
# BUS_REPEAT (bus_bench repeats of its throughput steps, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# A fresh database on the usual server (created by mmo on connect): prints its URL.
fresh_mysql_url() { # name
  local server=${MMO_MYSQL_URL:-mysql://root@127.0.0.1:3306}
  server=${server%%\?*}
  local scheme=${server%%://*} authority=${server#*://}
  echo "$scheme://${authority%%/*}/$1"
}

# Drops the database of a URL with whichever client is installed.
drop_mysql_db() { # url
  local client db=${1##*/} args
  client=$(command -v mariadb || command -v mysql || true)
  if [[ -z $client ]]; then
    echo "no mysql/mariadb client: drop database $db by hand"
    return
  fi
  args=$(mktemp)
  python3 - "$1" > "$args" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.unquote(p.username or "root")); print(p.hostname or "127.0.0.1"); print(p.port or 3306)
print(u.unquote(p.password or ""))
PY
  local my_user my_host my_port my_pass
  { read -r my_user; read -r my_host; read -r my_port; read -r my_pass; } < "$args"
  rm -f "$args"
  MYSQL_PWD=$my_pass "$client" -u "$my_user" -h "$my_host" -P "$my_port" \
    -e "DROP DATABASE IF EXISTS \`$db\`" || echo "could not drop database $db"
}

# Starts `mmo all` on core 0 with a config, bus prefix and database; sets mmo_pid and waits until
# the gateway listens (migrations on a fresh database come first: wait for it, not a fixed time).
# Returns 1 if it never does.
start_mmo() { # config prefix mysql_url out
  MMO_BUS_PREFIX=$2 MMO_MYSQL_URL=$3 taskset -c 0 "$target/release/mmo" all --config "$1" > "$4" 2>&1 &
  mmo_pid=$!
  for _ in $(seq 600); do
    grep -q "gateway listening on" "$4" 2>/dev/null && return 0
    kill -0 "$mmo_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "gateway listening on" "$4"
}

# Stops `mmo all` (SIGTERM: it saves and drains) and deletes its bus keys.
stop_mmo() { # prefix
  kill -TERM "$mmo_pid" 2>/dev/null || true; wait "$mmo_pid" 2>/dev/null || true
  redis-cli --scan --pattern "$1*" | xargs -r redis-cli del > /dev/null || true
}

target=${CARGO_TARGET_DIR:-target}
# Only results written by this run go into the summary; older ones stay on disk for criterion's
# own run-to-run comparison.
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT

# Pin the measuring process to core 1 where taskset exists, so it does not migrate between cores
# mid-sample; conn_memory pins itself and its servers (servers on core 0, itself on core 1).
pin=()
if command -v taskset >/dev/null 2>&1 && [[ $(nproc) -ge 2 ]]; then pin=(taskset -c 1); fi

step "cargo build --release -p mmo -p mmo-benches"
cargo build --release -p mmo -p mmo-benches

if [[ -z ${SKIP_CRITERION:-} ]]; then
  step "criterion: codec, dispatch"
  # Compile first, unpinned, so only the measurement runs on the pinned core.
  cargo bench -p mmo-benches --bench codec --bench dispatch --bench matchmaking --no-run
  "${pin[@]}" cargo bench -p mmo-benches --bench codec --bench dispatch --bench matchmaking -- \
    --warm-up-time 1 --measurement-time 3 "$@"
fi

if [[ -z ${SKIP_ZONE_TICK:-} ]]; then
  step "zone_tick: one zone tick, 10k and 50k entities, vs the naive all-pairs-in-cell baseline (BENCH.md S3)"
  cargo bench -p mmo-benches --bench zone_tick --no-run
  # Criterion's means and medians go to the summary; the tick percentiles the harness prints
  # after them (p50/p99 of tick, AOI and encoding, alternating blocks) are kept for it too.
  "${pin[@]}" cargo bench -p mmo-benches --bench zone_tick | tee "$target/zone_tick.txt"
fi

if [[ -z ${SKIP_MEMORY:-} ]]; then
  step "conn_memory: ${CONNS:-10000} idle connections, gateway vs raw tokio"
  # Each side holds one fd per connection; take the whole hard limit (about 20,000 here).
  ulimit -n "$(ulimit -Hn)"
  "$target/release/conn_memory" --conns "${CONNS:-10000}" --repeat "${REPEAT:-1}" --hold "${HOLD:-0}" \
    --json "$target/conn_memory.json"
fi

if [[ -z ${SKIP_BUS:-} ]]; then
  step "bus_bench: bus vs redis-benchmark XADD / raw XREADGROUP, latency at 50k/s (BENCH.md S6)"
  # Pins itself and redis-benchmark to core 1 and its latency consumer to core 0 (Redis unpinned).
  "$target/release/bus_bench" --repeat "${BUS_REPEAT:-3}" --json "$target/bus_bench.json"
fi

if [[ -z ${SKIP_MM:-} ]]; then
  step "matchmaking: ticket ingest vs a naive WATCH/MULTI enqueue (BENCH.md S8)"
  "$target/release/mm_ingest" --tickets "${MM_TICKETS:-20000}" --tasks "${MM_TASKS:-64}" \
    --repeat "${MM_REPEAT:-3}" --parts --json "$target/mm_ingest.json"
fi

if [[ -z ${SKIP_CHAT:-} ]]; then
  step "chat fan-out: channels of ${CHAT_MEMBERS:-100,1000} members across two gateways vs redis PUBLISH (BENCH.md S5)"
  # Each side holds one fd per member or subscriber (and the servers the other end).
  ulimit -n "$(ulimit -Hn)"
  "$target/release/chat_fanout" --members "${CHAT_MEMBERS:-100,1000}" --rate "${CHAT_RATE:-500,60}" \
    --duration "${CHAT_SECS:-4}s" --json "$target/chat_fanout.json"
fi

if [[ -z ${SKIP_EVENTS:-} ]]; then
  step "event log: writer rows/s from the stream to MySQL vs the bare multi-row INSERT and single-row INSERTs"
  "$target/release/event_rows" --events "${EVENTS_N:-100000}" --json "$target/event_rows.json"
fi

if [[ -z ${SKIP_LB:-} ]]; then
  step "leaderboard: batched submits vs redis-benchmark ZADD; around-me p99 on ${LB_MEMBERS:-1000000} members"
  cargo build --release -p mmo-benches --bin lb_bench
  "$target/release/lb_bench" --clients "${LB_CLIENTS:-200}" --pipeline "${LB_PIPELINE:-16}" \
    --members "${LB_MEMBERS:-1000000}" --json "$target/lb_bench.json"
fi

if [[ -z ${SKIP_SHOP:-} ]]; then
  step "shop: durable purchases/s vs bare INSERT+COMMIT transactions (BENCH.md S9)"
  "$target/release/shop_purchases" --purchases "${SHOP_PURCHASES:-20000}" --players "${SHOP_PLAYERS:-1000}" \
    --tasks "${SHOP_TASKS:-64}" --json "$target/shop_purchases.json"
fi

if [[ -z ${SKIP_E2E:-} ]]; then
  step "e2e echo: mmo-bots through mmo all (gateway -> bus -> diagnostics) vs a bare tokio echo (BENCH.md S2)"
  # Servers on core 0, bots on core 1 (Redis unpinned). 1000 bots; open loop at 50k/s, then
  # closed loop for the maximum. Same bots, same frames: only what sits behind the socket differs.
  cargo build --release -p mmo -p mmo-bots
  e2e=$(mktemp -d)
  printf '[listener]\nlisten = "127.0.0.1:17777"\nmax_connections = 20000\n[metrics]\nenabled = false\n[log]\nfilter = "warn"\n' > "$e2e/mmo.toml"
  prefix="benche2e$RANDOM"
  run_bots() { # name addr
    for mode in "--rate 50000" "--closed-loop"; do
      tag=$1-$(echo "$mode" | tr -dc 'a-z0-9')
      "${pin[@]}" "$target/release/mmo-bots" --addr "$2" --scenario echo --bots "${E2E_BOTS:-1000}" \
        --duration "${E2E_SECS:-15}s" $mode --quiet --json "$e2e/$tag.json" > "$e2e/$tag.out" 2>&1 || true
    done
  }
  taskset -c 0 "$target/release/echo_baseline" 127.0.0.1:17778 > "$e2e/baseline.out" & base_pid=$!
  sleep 1; run_bots baseline 127.0.0.1:17778; kill "$base_pid"; wait "$base_pid" 2>/dev/null || true
  MMO_BUS_PREFIX=$prefix taskset -c 0 "$target/release/mmo" all --config "$e2e/mmo.toml" > "$e2e/mmo.out" 2>&1 & mmo_pid=$!
  sleep 2; run_bots mmo 127.0.0.1:17777; kill -TERM "$mmo_pid"; wait "$mmo_pid" 2>/dev/null || true
  redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli del > /dev/null || true
  python3 - "$e2e" > "$target/e2e_echo.txt" <<'PY'
import json, sys, os
d = sys.argv[1]
def load(n):
    p = os.path.join(d, n + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
print("e2e echo, 1000 bots (mmo all vs bare tokio echo, same run)")
for mode, label in (("rate50000", "open loop 50k/s"), ("closedloop", "closed loop")):
    m, b = load("mmo-" + mode), load("baseline-" + mode)
    if not m or not b:
        print(f"  {label}: missing results"); continue
    print(f"  {label}: mmo {m['throughput_per_s']:,.0f}/s p50 {m['latency_ms']['p50']:.2f} p99 {m['latency_ms']['p99']:.2f} ms "
          f"(lost {m['lost']}, errors {m['errors']}) | baseline {b['throughput_per_s']:,.0f}/s p50 {b['latency_ms']['p50']:.2f} "
          f"p99 {b['latency_ms']['p99']:.2f} ms | throughput ratio {m['throughput_per_s'] / b['throughput_per_s']:.2f}x")
PY
  cat "$target/e2e_echo.txt"
fi

if [[ -z ${SKIP_LOGIN:-} ]]; then
  login_bots=${LOGIN_BOTS:-10000} pw_bots=${LOGIN_PW_BOTS:-500}
  step "login: $login_bots guest logins held ${LOGIN_HOLD_SECS:-20}s, then $pw_bots password registrations and logins (default argon2id cost), through mmo all"
  # Servers on core 0, bots on core 1 (Redis and MariaDB unpinned), as in e2e. mmo and mmo-bots
  # raise their own open-file limits (one fd per bot on each side).
  cargo build --release -p mmo -p mmo-bots
  login=$(mktemp -d)
  # A fresh database on the usual server (created by mmo on connect, dropped afterwards) and a
  # fresh bus prefix, so the guests are new accounts and nothing is left behind.
  login_mysql_url=$(fresh_mysql_url "mmo_bench_login_$$")
  login_prefix="benchlogin$RANDOM"
  # The account server at its defaults (argon2id m=19456 KiB, t=2, p=1; half the cores hash).
  printf '[listener]\nlisten = "127.0.0.1:17779"\nmax_connections = 20000\n[metrics]\nenabled = false\n[shutdown]\ngrace = "5s"\n[log]\nfilter = "warn"\n' > "$login/mmo.toml"
  if start_mmo "$login/mmo.toml" "$login_prefix" "$login_mysql_url" "$login/mmo.out"; then
    login_pid=$mmo_pid
    run_login() { # name args...
      local name=$1
      shift
      "${pin[@]}" "$target/release/mmo-bots" --addr 127.0.0.1:17779 --scenario login --run-tag bench \
        --quiet --json "$login/$name.json" "$@" > "$login/$name.out" 2>&1 || true
      cat "$login/$name.out"
    }
    run_login device --login device --bots "$login_bots" --login-concurrency "${LOGIN_CONCURRENCY:-32}" \
      --duration "${LOGIN_HOLD_SECS:-20}s" --server-pid "$login_pid"
    # Password logins in progress count against max_failed_logins_per_address (20) until they
    # succeed, and all bots share one address: stay under it.
    for run in register relogin; do
      run_login "password-$run" --login password --bots "$pw_bots" \
        --login-concurrency "${LOGIN_PW_CONCURRENCY:-4}" --duration 2s
    done
  else
    echo "mmo all did not start:"; cat "$login/mmo.out"
  fi
  stop_mmo "$login_prefix"
  drop_mysql_db "$login_mysql_url"
  for name in device password-register password-relogin; do
    if [[ -f "$login/$name.json" ]]; then cp "$login/$name.json" "$target/login_$name.json"; fi
  done
  rm -rf "$login"
fi

if [[ -z ${SKIP_ZONE:-} ]]; then
  zone_bots=${ZONE_BOTS:-2000} zone_hz=${ZONE_MOVE_HZ:-10} zone_secs=${ZONE_SECS:-30}
  step "zone: $zone_bots bots walking at $zone_hz MoveReqs/s for ${zone_secs}s x ${ZONE_REPEAT:-1} through mmo all: tick p99, entity updates delivered/s, update latency (BENCH.md S3/S4)"
  # Servers on core 0, bots on core 1 (Redis and MariaDB unpinned), as in e2e. mmo and mmo-bots
  # raise their own open-file limits (one fd per bot on each side).
  cargo build --release -p mmo -p mmo-bots
  zone=$(mktemp -d)
  zone_mysql_url=$(fresh_mysql_url "mmo_bench_zone_$$")
  zone_prefix="benchzone$RANDOM"
  # The metrics endpoint on a port of its own, read by the bots at the window's start and end.
  printf '[listener]\nlisten = "127.0.0.1:17781"\nmax_connections = 20000\n[metrics]\nenabled = true\nlisten = "127.0.0.1:19781"\n[shutdown]\ngrace = "5s"\n[log]\nfilter = "warn"\n' > "$zone/mmo.toml"
  rm -f "$target"/zone_run*.json
  if start_mmo "$zone/mmo.toml" "$zone_prefix" "$zone_mysql_url" "$zone/mmo.out"; then
    run_zone() { # name secs
      "${pin[@]}" "$target/release/mmo-bots" --addr 127.0.0.1:17781 --scenario zone --run-tag bench \
        --bots "$zone_bots" --move-hz "$zone_hz" --login-rate "${ZONE_LOGIN_RATE:-500}" --duration "$2s" \
        --metrics-url http://127.0.0.1:19781/metrics --quiet --json "$zone/$1.json" > "$zone/$1.out" 2>&1 || true
      cat "$zone/$1.out"
    }
    # The warm-up creates the accounts and places them; the measured runs log in to the same
    # accounts (taking over the entities the last run left in the world for the resume window).
    run_zone warmup 5 > /dev/null
    for i in $(seq "${ZONE_REPEAT:-1}"); do
      run_zone "run$i" "$zone_secs"
      if [[ -f "$zone/run$i.json" ]]; then cp "$zone/run$i.json" "$target/zone_run$i.json"; fi
    done
  else
    echo "mmo all did not start:"; cat "$zone/mmo.out"
  fi
  stop_mmo "$zone_prefix"
  drop_mysql_db "$zone_mysql_url"
  rm -rf "$zone"
fi

step "summary (medians; ratio = time or bytes relative to the baseline of the same run)"
python3 - "$target" "$marker" "${SKIP_MEMORY:-}" <<'EOF'
import glob, json, os, sys

target, marker, skip_memory = sys.argv[1], sys.argv[2], sys.argv[3]
since = os.path.getmtime(marker)

def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

groups = {}
for path in glob.glob(os.path.join(target, "criterion", "**", "new", "estimates.json"), recursive=True):
    if os.path.getmtime(path) < since:
        continue
    bench_path = os.path.join(os.path.dirname(path), "benchmark.json")
    with open(path) as f, open(bench_path) as g:
        median = json.load(f)["median"]["point_estimate"]
        bench = json.load(g)
    name = bench.get("function_id") or bench["full_id"]
    groups.setdefault(bench["group_id"], {})[name] = (median, bench.get("throughput"))

def rate(median_ns, throughput):
    if not throughput:
        return ""
    t = throughput.get("ElementsAndBytes") or {}
    elements = throughput.get("Elements") or t.get("elements")
    out = []
    if elements:
        out.append(f"{elements / median_ns * 1e3:.3g} M elem/s")
    nbytes = throughput.get("Bytes") or t.get("bytes")
    if nbytes:
        out.append(f"{nbytes / median_ns * 1e9 / 2**30:.3g} GiB/s")
    return ", ".join(out)

for group in sorted(groups):
    benches = groups[group]
    baselines = {n: v for n, v in benches.items() if "baseline" in n}
    print(f"{group}")
    for name, (median, tp) in sorted(benches.items(), key=lambda kv: ("baseline" in kv[0], kv[0])):
        line = f"  {name:<26} {fmt_ns(median):>10}  {rate(median, tp)}"
        if name not in baselines:
            ratios = [f"{median / b:.2f}x {bn}" for bn, (b, _) in sorted(baselines.items())]
            if ratios:
                line += "   [" + "; ".join(ratios) + "]"
        print(line)
if not groups:
    print("(no criterion results from this run)")

# The zone tick's percentiles (its harness prints them after criterion's figures).
ticks = os.path.join(target, "zone_tick.txt")
if os.path.exists(ticks) and os.path.getmtime(ticks) >= since:
    with open(ticks) as f:
        lines = [l.rstrip() for l in f if l.startswith(("zone_tick/", "  incremental:", "  naive_baseline:", "  ratio "))]
    lines = [l for l in lines if not l.startswith("zone_tick/") or "mean view" in l]
    if lines:
        print("zone_tick percentiles (timed ticks, alternating blocks; S3 targets: 10k <= 10 ms p99, AOI <= 5 ms; 50k <= 40 ms)")
        for l in lines:
            print("  " + l)

memory = os.path.join(target, "conn_memory.json")
if not skip_memory and os.path.exists(memory) and os.path.getmtime(memory) >= since:
    with open(memory) as f:
        m = json.load(f)
    s = m["servers"]
    gw, base = s["gateway"]["median_bytes_per_conn"], s["baseline"]["median_bytes_per_conn"]
    verdict = "met" if gw <= m["target_bytes_per_conn"] else "NOT met"
    print(f"conn_memory ({m['conns']} conns, {m['repeat']} repeat(s), pinned: {m['pinned']})")
    print(f"  gateway   {gw:8.0f} B/conn   [{m['ratio_gateway_over_baseline']:.2f}x baseline; "
          f"target <= {m['target_bytes_per_conn']:.0f}: {verdict}]")
    print(f"  baseline  {base:8.0f} B/conn   (raw tokio idle connection)")
    gw_held, base_held = s["gateway"].get("median_bytes_per_conn_held"), s["baseline"].get("median_bytes_per_conn_held")
    if gw_held is not None and base_held is not None:
        verdict = "met" if gw_held <= m["target_bytes_per_conn"] else "NOT met"
        print(f"  after holding {m['hold_secs']:g}s with heartbeats every {m['ping_interval_secs']:g}s:")
        print(f"  gateway   {gw_held:8.0f} B/conn   [{gw_held / base_held:.2f}x baseline; target: {verdict}]")
        print(f"  baseline  {base_held:8.0f} B/conn")

bus = os.path.join(target, "bus_bench.json")
if os.path.exists(bus) and os.path.getmtime(bus) >= since:
    with open(bus) as f:
        b = json.load(f)
    print(f"bus_bench ({b['repeat']} repeat(s), pinned: {b['pinned']}; ratio = ours / baseline)")
    def fig(row, key):
        v = row.get(key)
        if v is None:
            return "-"
        return f"{v:.0f} us" if row["scenario"].startswith("latency") else f"{v / 1e3:.0f}k/s"
    for r in b["rows"]:
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x"
        verdict = {True: " met", False: " NOT met"}.get(r.get("met"), "")
        print(f"  {r['scenario']:<52} {fig(r, 'ours'):>10}  vs {r['baseline_name']} {fig(r, 'baseline')}"
              f"  [{ratio}; target {r['target']}{verdict}]")

chat = os.path.join(target, "chat_fanout.json")
if os.path.exists(chat) and os.path.getmtime(chat) >= since:
    with open(chat) as f:
        c = json.load(f)
    print(f"chat fan-out ({c['duration_s']:g}s window; chat rate limit raised to {c['chat_rate_per_sec']}/s per player)")
    for r in c["rows"]:
        ch, pb = r["chat"], r["publish"]
        print(f"  {r['members']:>5} members: chat {ch['deliveries_per_s']:>9,.0f}/s p50 {ch['p50_ms']:.2f} p99 {ch['p99_ms']:.2f} ms "
              f"(lost {ch['lost']}, dup {ch['duplicated']}) | PUBLISH {pb['deliveries_per_s']:>9,.0f}/s p50 {pb['p50_ms']:.2f} "
              f"p99 {pb['p99_ms']:.2f} ms | ratio {r['ratio']:.2f}x [S5 target >= 0.5x, p99 <= 20 ms: {r['verdict']}]")

shop = os.path.join(target, "shop_purchases.json")
if os.path.exists(shop) and os.path.getmtime(shop) >= since:
    with open(shop) as f:
        sp = json.load(f)
    met = "met" if sp["purchases_per_sec"] >= 2000 else "NOT met"
    print(f"shop: {sp['purchases_per_sec']:,.0f} purchases/s vs {sp['baseline_commits_per_sec']:,.0f} bare commits/s "
          f"= {sp['ratio']:.2f}x; replays {sp['replays_per_sec']:,.0f}/s (flush_log_at_trx_commit "
          f"{sp['flush_log_at_trx_commit']}) [S9 target >= 2k/s: {met}]")

runs = []
for name, label in (("device", "guest (device) logins"), ("password-register", "password registrations"),
                    ("password-relogin", "password logins")):
    path = os.path.join(target, f"login_{name}.json")
    if os.path.exists(path) and os.path.getmtime(path) >= since:
        with open(path) as f:
            runs.append((label, json.load(f)))
if runs:
    print("login (mmo all on core 0, bots on core 1; default argon2id cost for passwords)")
for label, r in runs:
    l = r["login"]
    pacing = f"{l['concurrency']} at once" if l.get("concurrency") else f"{l['rate']:.0f}/s scheduled"
    lat = l["latency_ms"]
    problems = [f"{l['failed']} failed {l['failed_by_kind']}"] if l["failed"] else []
    if l["sessions_lost"]:
        problems.append(f"{l['sessions_lost']} sessions lost")
    if r["errors"]:
        problems.append(f"errors {r['errors_by_kind']}")
    print(f"  {label:<24} {l['ok']:>6}/{r['bots']} ok, {l['per_s']:8.1f}/s ({pacing}), login p50 {lat['p50']:.2f} "
          f"p99 {lat['p99']:.2f} max {lat['max']:.2f} ms; {l['sessions_held']} sessions held "
          f"{r['duration_s']:.0f}s, {r['answered']}/{r['sent']} heartbeats answered"
          + (f"  [{'; '.join(problems)}]" if problems else ""))
    per = r.get("server_rss_per_session_bytes")
    if per is not None:
        rss = r["server_rss"]
        print(f"  {'':<24} server memory {per:,.0f} B/session (RSS {rss['before_bytes'] / 2**20:.1f} -> "
              f"{rss['after_bytes'] / 2**20:.1f} MiB with {rss['sessions']} sessions)")

zone_runs = []
for path in sorted(glob.glob(os.path.join(target, "zone_run*.json"))):
    if os.path.getmtime(path) >= since:
        with open(path) as f:
            zone_runs.append(json.load(f))
if zone_runs:
    def median(xs):
        xs = sorted(x for x in xs if x is not None)
        return None if not xs else (xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2)
    def headline(r):
        s = (r["zone"].get("server") or {})
        return (s.get("instances") or {}).get(s.get("instance")) or {}
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)
    r0 = zone_runs[0]
    print(f"zone ({r0['bots']} bots at {r0['zone']['move_hz']:g} MoveReqs/s, {r0['duration_s']:.0f}s window, "
          f"{len(zone_runs)} run(s), medians; mmo all on core 0, bots on core 1)")
    for r in zone_runs:
        z = r["zone"]
        problems = [f"{k} x{n}" for k, n in r["errors_by_kind"].items()]
        problems += [f"enter {k} x{n}" for k, n in z["enter_failed_by_kind"].items()]
        problems += [f"move {k} x{n}" for k, n in z["moves_rejected_by_code"].items()]
        if problems:
            print(f"  [problems in a run: {'; '.join(problems)}]")
    tick_p50 = median([headline(r).get("tick_p50_ms") for r in zone_runs])
    tick_p99 = median([headline(r).get("tick_p99_ms") for r in zone_runs])
    overruns = median([headline(r).get("overruns") for r in zone_runs])
    players = median([headline(r).get("players") for r in zone_runs])
    delivered = median([r["zone"]["updates_per_s"] for r in zone_runs])
    sent = median([(r["zone"].get("server") or {}).get("updates_per_s") for r in zone_runs])
    lat50 = median([r["zone"]["update_latency_ms"]["p50"] for r in zone_runs])
    lat99 = median([r["zone"]["update_latency_ms"]["p99"] for r in zone_runs])
    frames = median([r["zone"]["frames"]["positions"]["per_s"] + r["zone"]["frames"]["tick"]["per_s"] for r in zone_runs])
    mbps = median([r["zone"]["bytes_per_s"] / 1e6 for r in zone_runs])
    period = 50.0
    print(f"  tick (instance {(r0['zone'].get('server') or {}).get('instance')}, "
          f"{fmt(players, '.0f')} players)   p50 {fmt(tick_p50, '.2f')} ms  p99 {fmt(tick_p99, '.2f')} ms  "
          f"[{fmt(None if tick_p99 is None else tick_p99 / period, '.2f')}x the {period:.0f} ms tick period; "
          f"S3 target <= 10 ms p99 at 10k entities], {fmt(overruns, '.0f')} overruns")
    ratio = None if not sent else delivered / sent
    print(f"  updates delivered    {delivered:,.0f}/s  vs sent by the zone {fmt(sent, ',.0f')}/s  "
          f"[{fmt(ratio, '.3f')}x delivered; S4 target >= 5M/s at 5,000 clients]")
    print(f"  frames received      {frames:,.0f}/s, {mbps:.1f} MB/s")
    print(f"  update latency       p50 {lat50:.2f} ms  p99 {lat99:.2f} ms  (tick to bot, same wall clock; "
          f"[{lat99 / period:.2f}x the tick period at p99])")
EOF
