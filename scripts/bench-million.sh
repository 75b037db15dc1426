#!/usr/bin/env bash
# bench-million.sh: one share of a million small files (1,000 folders of 1,000), served by a real
# `porch serve` and read by a neighbour, measured against the budgets of the big-index work. Run by
# hand, not by CI; it takes several minutes per build. Needs root or unprivileged user namespaces:
# both peers run inside a network namespace of this script's own, on loopback only, so nothing (not
# even mDNS) leaves the machine.
#
#   scripts/bench-million.sh                          # this tree's build, and the old one (BENCH_OLD)
#   BENCH_OLD= BENCH_RUNS=1 scripts/bench-million.sh  # this build only, once
#   BENCH_FOLDERS=100 scripts/bench-million.sh        # a smaller tree (100,000 files)
#
# BENCH_OLD is a commit to build and measure beside this tree (default: the merge base with main);
# empty skips it. BENCH_TREE is where the tree is generated (kept between runs, ~4 GB at 4 KiB a
# file; delete it afterwards). BENCH_TREE_MAX (default 300) is how many seconds paging through
# /v1/tree may take before it is given up. The neighbour is a second `porch serve`; requests are timed with curl
# presenting the neighbour's own certificate (mutual TLS, over one kept-alive connection), and the
# neighbour's `porch ls` is timed whole, process start and handshake included.
#
# Figures: first indexing (start until every file is hashed), time until a folder listing answers,
# peak RSS (VmHWM), idle CPU over BENCH_IDLE seconds after hashing, ls of a 1,000-entry folder,
# search over every name, paging through /v1/tree, the database's size, restart until the first
# listing answers (and whether it hashed anything again). Each figure is the range over BENCH_RUNS
# runs, the builds taking turns.
set -euo pipefail
cd "$(dirname "$0")/.."

folders=${BENCH_FOLDERS:-1000}
per=${BENCH_PER:-1000}
runs=${BENCH_RUNS:-2}
idle=${BENCH_IDLE:-60}
tree=${BENCH_TREE:-/tmp/porch-million}
old=${BENCH_OLD-$(git merge-base HEAD main 2>/dev/null || true)}

if [[ -z ${PORCH_BENCH_INNER:-} ]]; then
  bin=$(mktemp -d /tmp/porch-million-bin.XXXXXX)
  trap 'rm -rf "$bin"' EXIT
  go build -o "$bin/new" .
  builds=new
  if [[ -n $old ]]; then
    src=$(mktemp -d /tmp/porch-million-src.XXXXXX)
    git archive "$old" | tar -x -C "$src"
    (cd "$src" && go build -o "$bin/old" .)
    rm -rf "$src"
    builds="old new"
  fi
  want=$folders.$per
  if [[ $(cat "$tree/.complete" 2>/dev/null) != "$want" ]]; then
    echo "generating $folders folders of $per files in $tree/million ..." >&2
    rm -rf "$tree"
    mkdir -p "$tree/million"
    for ((d = 0; d < folders; d++)); do
      dir=$(printf '%s/million/d%04d' "$tree" "$d")
      mkdir "$dir"
      for ((f = 0; f < per; f++)); do
        printf '%d/%d\n' "$d" "$f" >"$(printf '%s/file-%04d-%04d.txt' "$dir" "$d" "$f")"
      done
    done
    echo "$want" >"$tree/.complete"
  fi
  export PORCH_BENCH_INNER=1 PORCH_BENCH_BIN=$bin PORCH_BENCH_BUILDS=$builds
  if [[ $(id -u) -eq 0 ]]; then
    unshare --net -- "$0" "$@"
  else
    unshare --user --map-root-user --net -- "$0" "$@"
  fi
  exit
fi

ip link set lo up multicast on
bin=$PORCH_BENCH_BIN
read -r -a builds <<<"$PORCH_BENCH_BUILDS"
work=$(mktemp -d /tmp/porch-million-run.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

tck=$(getconf CLK_TCK)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
hwm() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# get PORT PATH...: GETs every path over one connection with the neighbour's certificate; prints
# each request's time in milliseconds, one a line, and leaves the last body in $work/body.
get() {
  local port=$1 p args=()
  shift
  for p in "$@"; do args+=(-o "$work/body" "https://127.0.0.1:$port$p"); done
  curl -sSk --fail --cert "$work/nb/cert.pem" --key "$work/nb/key.pem" \
    -w '%{time_total} %{time_appconnect}\n' "${args[@]}" |
    awk 'NR == 1 { printf "%.1f\n", ($1 - $2) * 1000; next } { printf "%.1f\n", $1 * 1000 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# wait_for CMD...: runs CMD every 50 ms until it succeeds (10 minutes at most).
wait_for() {
  local i
  for ((i = 0; i < 12000; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  return 1
}
listing() { get "$1" "/v1/ls?path=million/d0000" >/dev/null; }
hashed() {
  get "$1" /v1/info >/dev/null && jq -e '.files > 0 and .hashed_bytes == .bytes' "$work/body" >/dev/null
}

declare -A res
add() { res[$1/$2]+="$3 "; }

measure() {
  local b=$1 porch=$bin/$1 port=47100 d=$work/$1 t0 pid npid out i
  rm -rf "$d" "$work/nb"
  mkdir -p "$d" "$work/nb"
  "$porch" share add --data "$d" "$tree/million" >/dev/null 2>&1
  # Let memory freed by the previous run go back to the host first, for both builds alike.
  sleep 3
  t0=$(now)
  "$porch" serve --data "$d" --name srv --iface lo --listen "127.0.0.1:$port" 2>"$work/$b.log" &
  pid=$!
  pids+=("$pid")
  "$porch" serve --data "$work/nb" --name nb --iface lo --listen "127.0.0.1:$((port + 1))" \
    --peer "127.0.0.1:$port" 2>/dev/null &
  npid=$!
  pids+=("$npid")
  wait_for test -s "$work/nb/key.pem"
  wait_for listing "$port"
  add "$b" browsable "$(since "$t0")"
  wait_for hashed "$port"
  add "$b" indexed "$(since "$t0")"
  sleep 5
  local c0 c1
  c0=$(ticks "$pid")
  sleep "$idle"
  c1=$(ticks "$pid")
  add "$b" idlecpu "$(awk -v t=$((c1 - c0)) -v hz="$tck" -v s="$idle" 'BEGIN { printf "%.2f", 100 * t / hz / s }')"
  out=$(get "$port" $(for i in 1 2 3 4 5 6; do printf '/v1/ls?path=million/d%04d ' $((i * folders / 7)); done))
  add "$b" ls "$(tail -n +2 <<<"$out" | median)"
  t1=$(now)
  "$porch" ls --data "$work/nb" "127.0.0.1:$port/$(printf 'million/d%04d' $((folders - 1)))" >/dev/null 2>&1
  add "$b" lscli "$(awk -v a="$t1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
  local last
  last=$(printf 'file-%04d-%04d' $((folders - 1)) $((per - 1)))
  out=$(get "$port" /v1/info "/v1/search?q=$last" "/v1/search?q=$last" \
    '/v1/search?q=-09%20ext:txt' '/v1/search?q=nothing-matches-this')
  add "$b" search "$(tail -n +2 <<<"$out" | sort -n | tail -1)"
  t1=$(now)
  local cursor="" pages=0 ok=1
  while :; do
    if ! get "$port" "/v1/tree?path=million&limit=5000&cursor=$cursor" >/dev/null; then ok=0; break; fi
    pages=$((pages + 1))
    cursor=$(jq -r .next "$work/body")
    [[ -z $cursor ]] && break
    if awk -v a="$t1" -v b="$(now)" -v m="${BENCH_TREE_MAX:-300}" 'BEGIN { exit !(b - a > m) }'; then ok=0; break; fi
  done
  if ((ok)); then add "$b" tree "$(since "$t1")"; else add "$b" tree "gave-up@$pages"; fi
  add "$b" rss "$(hwm "$pid")"
  kill -TERM "$pid"
  wait "$pid" || true
  add "$b" db "$(du -cm "$d"/porch.db* | tail -1 | cut -f1)"
  sleep 3
  t0=$(now)
  "$porch" serve --data "$d" --name srv --iface lo --listen "127.0.0.1:$port" 2>>"$work/$b.log" &
  pid=$!
  pids+=("$pid")
  wait_for listing "$port"
  add "$b" restart "$(since "$t0")"
  get "$port" /v1/info >/dev/null
  add "$b" rehashed "$(jq -r 'if .hashed_bytes == .bytes then "no" else "yes" end' "$work/body")"
  wait_for hashed "$port"
  sleep 2
  add "$b" rssrestart "$(hwm "$pid")"
  kill -TERM "$pid" "$npid"
  wait "$pid" "$npid" || true
}

for ((r = 1; r <= runs; r++)); do
  for b in "${builds[@]}"; do
    echo "run $r: $b ..." >&2
    measure "$b"
  done
done

range() {
  local v
  v=$(tr ' ' '\n' <<<"${res[$1/$2]:-}" | grep -v '^$' || true)
  [[ -z $v ]] && { echo -; return; }
  if grep -qv '^[0-9.]*$' <<<"$v"; then tr '\n' ' ' <<<"$v"; return; fi
  sort -n <<<"$v" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (lo == hi) print lo; else print lo "-" hi }'
}
verdict() { # verdict KEY LIMIT: PASS if the worst run of this build is within LIMIT
  local v
  v=$(tr ' ' '\n' <<<"${res[new/$1]:-}" | grep '^[0-9.]*$' | sort -n | tail -1)
  [[ -z $v ]] && { echo "-"; return; }
  awk -v v="$v" -v l="$2" 'BEGIN { print (v + 0 <= l + 0) ? "PASS" : "FAIL" }'
}

files=$((folders * per))
echo
echo "one share of $files files in $folders folders; $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $runs run(s)"
printf '%-38s %-16s %-16s %-10s %s\n' figure new old budget verdict
row() { # row LABEL KEY BUDGET-TEXT [LIMIT]
  local v=-
  [[ -n ${4:-} ]] && v=$(verdict "$2" "$4")
  printf '%-38s %-16s %-16s %-10s %s\n' "$1" "$(range new "$2")" "$(range old "$2")" "$3" "$v"
}
row "first indexing, walk + hash (s)" indexed -
row "until browsable (s)" browsable -
row "peak RSS of porch serve (MiB)" rss "300" 300
row "idle CPU over ${idle} s (% of a core)" idlecpu "1" 1
row "ls of 1,000 entries (ms)" ls "50" 50
row "porch ls CLI, whole process (ms)" lscli -
row "search over every name (ms, worst)" search "250" 250
row "tree paging through all of it (s)" tree -
row "database on disk (MB)" db -
row "restart until first listing (s)" restart -
row "hashed again after restart" rehashed "no"
row "peak RSS after restart (MiB)" rssrestart "300" 300
