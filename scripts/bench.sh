#!/usr/bin/env bash
# bench.sh: measures the real porch binary against a plain HTTP baseline (scripts/benchserve +
# curl), side by side in one run, over a bridge between network namespaces this script makes
# (nothing touches the machine's own interfaces). Run by hand, not by CI; needs root, or a
# kernel that allows unprivileged user namespaces (it re-runs itself under unshare).
#
#   scripts/bench.sh    # 1 GiB file (also over a 1 Gbit/s link), folders of 10,000 and 100,000
#                       # 4 KiB files, 2 sources vs 1
#   BENCH_BIG_MIB=256 BENCH_RATE=30MB/s BENCH_LINK=none scripts/bench.sh
#   BENCH_CASES=b BENCH_MANY="10000" scripts/bench.sh     # only case (b), one folder size
#
# Prints a table: wall time of each case for porch and the baseline (medians of BENCH_RUNS runs,
# taking turns) and porch's speed as a percentage of the baseline's, the two-source speed-up
# under --max-upload, and peak RSS (VmHWM) of both servers and clients. Case (b) has a table of
# its own: porch get of a folder of small files between two namespaces against a warm local
# `tar c | tar x` of the same folder, best of BENCH_RUNS each, and the budget with PASS or FAIL.
set -euo pipefail
cd "$(dirname "$0")/.."

big_mib=${BENCH_BIG_MIB:-1024}   # (a) size of the big file
many=${BENCH_MANY:-10000 100000} # (b) folders of this many 4 KiB files
rate=${BENCH_RATE:-50MB/s}       # (c) --max-upload of each source
runs=${BENCH_RUNS:-3}            # (a) and (b) are run this many times; medians are shown
link=${BENCH_LINK:-1gbit}        # (a) is also run over a link shaped to this rate (tc); none: not
cases=${BENCH_CASES:-a b c}      # which cases to run
many_fs=${BENCH_MANY_FS:-tmpfs}  # (b) runs on a tmpfs of its own; disk: in the work folder
# (b)'s budget: tar's time divided by porch's must be at least this (porch at most 2.5x tar).
many_budget=0.4
want() { [[ " $cases " == *" $1 "* ]]; }

if [[ -z ${PORCH_BENCH_INNER:-} ]]; then
  scripts/deps.sh test
  bin=$(mktemp -d /tmp/porch-bench-bin.XXXXXX)
  trap 'rm -rf "$bin"' EXIT
  go build -o "$bin/benchserve" ./scripts/benchserve
  if ! go build -o "$bin/porch" . 2>"$bin/build.log"; then
    echo "bench.sh: porch does not build; measuring the baseline only:" >&2
    cat "$bin/build.log" >&2
    rm -f "$bin/porch"
  fi
  export PORCH_BENCH_INNER=1 PORCH_BENCH_BIN=$bin
  if [[ $(id -u) -eq 0 ]]; then
    "$0" "$@"
  else
    # shellcheck disable=SC2016 # $0 and $@ are for the inner shell
    unshare --user --map-root-user --net --mount --propagation private -- \
      bash -c 'mount -t tmpfs porch-run /run && exec "$0" "$@"' "$0" "$@"
  fi
  exit
fi

bin=$PORCH_BENCH_BIN
porch=$bin/porch
have_porch=0
[[ -x $porch ]] && have_porch=1
work=$(mktemp -d /tmp/porch-bench.XXXXXX)
id=porchb-$$
names=(alice bob carol)
pids=()

cleanup() {
  local p ns
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # Anything else still inside our namespaces was started by this script too.
  for ns in "$id-0" "$id-1" "$id-2"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for ns in "$id-0" "$id-1" "$id-2" "$id-hub"; do ip netns del "$ns" 2>/dev/null || true; done
  mountpoint -q "$work/b" && umount "$work/b"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# --- network: hub namespace with a bridge, one namespace per peer, 10.213.0.10-12 ---
ip netns add "$id-hub"
ip -n "$id-hub" link set lo up
ip -n "$id-hub" link add br0 type bridge mcast_snooping 0
ip -n "$id-hub" link set br0 up
for i in 0 1 2; do
  ns=$id-$i
  ip netns add "$ns"
  ip -n "$id-hub" link add "vh$i" type veth peer name porch0 netns "$ns"
  ip -n "$id-hub" link set "vh$i" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.213.0.$((10 + i))/24" dev porch0
  ip -n "$ns" link set porch0 up multicast on
  ip -n "$ns" route add 224.0.0.0/4 dev porch0
  mkdir -p "$work/${names[i]}/data" "$work/${names[i]}/cli" "$work/${names[i]}/dl"
done

# nsx I CMD...: runs CMD in peer I's namespace.
nsx() { local i=$1; shift; ip netns exec "$id-$i" "$@"; }
# bg I NAME CMD...: starts CMD in peer I's namespace in the background; its pid in $last.
bg() { local i=$1 name=$2; shift 2; ip netns exec "$id-$i" "$@" >"$work/$name.log" 2>&1 & last=$!; pids+=("$last"); }
# porch_in I ARGS...: one porch CLI command in peer I's namespace with its own data dir.
porch_in() { local i=$1; shift; nsx "$i" "$porch" "$@" --data "$work/${names[i]}/cli" --iface porch0; }
serve() { # serve I [FLAGS...]
  local i=$1; shift
  bg "$i" "${names[i]}-serve" "$porch" serve --data "$work/${names[i]}/data" --name "${names[i]}" \
    --iface porch0 --downloads "$work/${names[i]}/dl" "$@"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
hwm() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# speed A_S B_S: how fast A was as a percentage of B, from their times.
speed() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.0f%%", 100 * b / a; else print "-" }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
maxof() { awk -v a="$1" -v b="$2" 'BEGIN { print (b != "?" && b > a) ? b : a }'; }
# timed_rss I CMD...: runs CMD in peer I's namespace; its peak RSS in MiB lands in $work/rss.mib
# and its CPU time (user + system, seconds) in $work/cpu.s (via /usr/bin/time when present, else
# "?").
timed_rss() {
  local i=$1; shift
  if [[ -x /usr/bin/time ]]; then
    nsx "$i" /usr/bin/time -f '%M %U %S' -o "$work/rss" "$@"
    awk '{ printf "%.0f", $1 / 1024 }' "$work/rss" >"$work/rss.mib"
    awk '{ printf "%.2f", $2 + $3 }' "$work/rss" >"$work/cpu.s"
  else
    nsx "$i" "$@"; echo "?" >"$work/rss.mib"; echo "?" >"$work/cpu.s"
  fi
}
# settle [MIB]: writes and deletes a scratch file of MIB MiB (by default a little larger than the
# big file), so that the next transfer writes into memory the system has just used, whichever tool
# runs it. On a virtual machine that hands memory freed for a few seconds back to its host (free
# page reporting), a gigabyte written into returned memory costs 1.5-2.5 s more system time than
# one written into recently used memory; without this, which tool got which kind decided the
# ratio. The dirty pages of whatever ran before are written out first (sync), so that neither
# tool pays for the other's writeback.
settle() {
  sync
  head -c "$(((${1:-$((big_mib + 256))}) << 20))" /dev/zero >"$work/settle"
  rm -f "$work/settle"
  sync
}
# big_once curl|porch: fetches the big file into carol's folder with that tool, after settle,
# checks it and removes it; its wall time, peak RSS (MiB) and CPU time land in $big_s, $big_rss
# and $big_cpu.
big_once() {
  settle
  local t; t=$(now)
  if [[ $1 == curl ]]; then
    timed_rss 2 curl -sf -o "$work/carol/dl/big.bin" http://10.213.0.10:8080/files/big/big.bin
  else
    timed_rss 2 "$porch" get alice/big/big.bin --to "$work/carol/dl" --data "$work/carol/cli" --iface porch0
  fi
  big_s=$(elapsed "$t") big_rss=$(cat "$work/rss.mib") big_cpu=$(cat "$work/cpu.s")
  cmp -s "$share/big/big.bin" "$work/carol/dl/big.bin" || echo "bench.sh: $1's big.bin differs!" >&2
  rm -rf "${work:?}/carol/dl"/*
}
# many_once tar|porch N CHECK: copies the folder of N small files into carol's folder with that
# tool, after the same removal of the last copy, sync and settle for both; its wall time lands in
# $many_s. tar is the baseline: a warm `tar c | tar x` of alice's folder on the same machine (in
# carol's namespace, through the same `ip netns exec`); porch is `porch get` from alice's
# namespace to carol's. With CHECK 1 the copy is compared with the original.
many_once() {
  local tool=$1 n=$2 check=$3 src=$many_src/many$2 dst=$work/b/dl/$1
  rm -rf "${work:?}/b/dl"/*
  mkdir -p "$dst"
  settle "$((n * 4 / 1024 * 2 + 64))"
  local t; t=$(now)
  if [[ $tool == tar ]]; then
    nsx 2 bash -c 'mkdir "$2" && tar -c -C "$1" . | tar -x -C "$2"' tar "$src" "$dst/many$n"
  else
    porch_in 2 get "alice/many$n" --to "$dst" 2>"$work/many.err" || tail -n3 "$work/many.err" >&2
  fi
  many_s=$(elapsed "$t")
  if [[ $check -eq 1 ]] && ! diff -rq "$src" "$dst/many$n" >/dev/null; then
    echo "bench.sh: $tool's copy of many$n differs!" >&2
  fi
}
rows=()
row() { rows+=("$(printf '%-38s %10s %10s %12s' "$@")"); }

# --- data ---
share=$work/alice/share
mkdir -p "$share/big" "$work/bob/share/big"
dirs=("$share/big")
if want a || want c; then
  echo "bench.sh: making ${big_mib} MiB of random data" >&2
  head -c "$((big_mib << 20))" /dev/urandom >"$share/big/big.bin"
fi
echo hello >"$share/big/tiny.txt"
# (b)'s folders, and both tools' copies of them, live in $work/b: by default a tmpfs, because on
# a disk the time to create a file can depend on what was deleted before more than on the tool
# (ext4 without a journal skips every inode deleted in the last 12 hours when it allocates one,
# and this benchmark deletes hundreds of thousands), which makes runs incomparable.
many_src=$work/b/share
if want b; then
  mkdir -p "$work/b"
  [[ $many_fs == tmpfs ]] && mount -t tmpfs porch-bench-b "$work/b"
  mkdir -p "$many_src" "$work/b/dl"
  for n in $many; do
    echo "bench.sh: making a folder of $n files of 4 KiB" >&2
    mkdir -p "$many_src/many$n"
    (cd "$many_src/many$n" && head -c "$((n * 4096))" /dev/urandom | split -b 4096 -a 6 -d - f)
    dirs+=("$many_src/many$n")
  done
fi

# --- baseline server in alice's namespace, porch beside it ---
bg 0 benchserve "$bin/benchserve" -addr 10.213.0.10:8080 -dir "$share"
base_pid=$last
for _ in $(seq 50); do nsx 2 curl -sf -o /dev/null http://10.213.0.10:8080/files/big/tiny.txt && break; sleep 0.1; done
if [[ $have_porch -eq 1 ]]; then
  nsx 0 "$porch" share add "${dirs[@]}" --data "$work/alice/data" >/dev/null
  serve 0
  alice_pid=$last
  # Wait until alice has hashed the big file and every small one (their listings show content ids).
  for _ in $(seq 600); do
    [[ -e $share/big/big.bin ]] || break
    porch_in 2 ls alice/big/big.bin --json 2>/dev/null | grep -q '"cid": *"p1-' && break
    sleep 1
  done
  if want b; then
    for n in $many; do
      for _ in $(seq 600); do
        [[ $(porch_in 2 ls "alice/many$n" --json 2>/dev/null | grep -c '"cid": *"p1-') -ge $n ]] && break
        sleep 1
      done
    done
  fi
  t=$(now); porch_in 2 get alice/big/tiny.txt --to "$work/carol/dl/tiny" 2>/dev/null
  porch_tiny=$(elapsed "$t")
fi

# Each case runs $runs times, the baseline and porch taking turns, so that both see the same
# machine; the table shows the medians and the largest peak RSS.
t_curl_big=() t_porch_big=() c_curl_big=() c_porch_big=() curl_rss=0 porch_rss=0
if want a; then
  for run in $(seq "$runs"); do
    echo "bench.sh: (a) run $run of $runs" >&2
    big_once curl
    t_curl_big+=("$big_s"); curl_rss=$(maxof "$curl_rss" "$big_rss"); c_curl_big+=("$big_cpu")
    if [[ $have_porch -eq 1 ]]; then
      big_once porch
      t_porch_big+=("$big_s"); porch_rss=$(maxof "$porch_rss" "$big_rss"); c_porch_big+=("$big_cpu")
    fi
  done
fi

# (b): for each folder size, a warm-up copy with each tool (checked), then $runs timed runs
# taking turns, the first tool alternating from run to run; best of the runs for each.
many_rows=()
many_row() { many_rows+=("$(printf '%-20s %-20s %-20s %9s %9s  %s' "$@")"); }
minof() { printf '%s\n' "$@" | sort -g | head -n1; }
rangeof() { printf '%s-%s' "$(minof "$@")" "$(printf '%s\n' "$@" | sort -g | tail -n1)"; }
if want b; then
  many_row "(b) 4 KiB files, $many_fs" "porch s best (range)" "tar s best (range)" "tar/porch" "budget" ""
  for n in $many; do
    tt=() tp=()
    many_once tar "$n" 1
    [[ $have_porch -eq 1 ]] && many_once porch "$n" 1
    for run in $(seq "$runs"); do
      echo "bench.sh: (b) $n files, run $run of $runs" >&2
      order="tar porch"
      ((run % 2 == 0)) && order="porch tar"
      for tool in $order; do
        [[ $tool == porch && $have_porch -eq 0 ]] && continue
        many_once "$tool" "$n" 0
        if [[ $tool == tar ]]; then tt+=("$many_s"); else tp+=("$many_s"); fi
      done
    done
    rm -rf "${work:?}/b/dl"/*
    bt=$(minof "${tt[@]}")
    if [[ $have_porch -eq 1 ]]; then
      bp=$(minof "${tp[@]}")
      r=$(ratio "$bt" "$bp")
      verdict=$(awk -v r="$r" -v b="$many_budget" 'BEGIN { print (r + 0 >= b) ? "PASS" : "FAIL" }')
      many_row "$n files" "$bp ($(rangeof "${tp[@]}"))" "$bt ($(rangeof "${tt[@]}"))" "$r" ">= $many_budget" "$verdict"
    else
      many_row "$n files" "-" "$bt ($(rangeof "${tt[@]}"))" "-" ">= $many_budget" "-"
    fi
  done
fi
base_hwm=$(hwm "$base_pid")
curl_big=-
want a && curl_big=$(median "${t_curl_big[@]}")

if [[ $have_porch -eq 0 ]]; then
  row "case" "porch s" "curl s" "porch/curl"
  want a && row "(a) ${big_mib} MiB file" "-" "$curl_big" "-"
  row "peak RSS MiB: server / client" "-" "$base_hwm / $curl_rss" "-"
  printf '%s\n' "${rows[@]}"
  ((${#many_rows[@]})) && printf '%s\n' "" "${many_rows[@]}"
  exit 0
fi
porch_big=- porch_cpu=- curl_cpu=-
if want a; then
  porch_big=$(median "${t_porch_big[@]}")
  porch_cpu=$(median "${c_porch_big[@]}") curl_cpu=$(median "${c_curl_big[@]}")
fi

# --- (a) again over a link shaped to $link (alice's side), as between two machines on a LAN ---
link_porch=- link_curl=-
if want a && [[ $link != none ]] && nsx 0 tc qdisc add dev porch0 root tbf rate "$link" burst 1mb latency 50ms; then
  t_lc=() t_lp=()
  for run in $(seq "$runs"); do
    echo "bench.sh: run $run of $runs over a $link link" >&2
    big_once curl; t_lc+=("$big_s")
    big_once porch; t_lp+=("$big_s")
  done
  nsx 0 tc qdisc del dev porch0 root
  link_curl=$(median "${t_lc[@]}") link_porch=$(median "${t_lp[@]}")
fi
alice_hwm=$(hwm "$alice_pid")
kill -TERM "$alice_pid"; wait "$alice_pid" 2>/dev/null || true

# --- (c) one source vs two, each limited to $rate ---
one=- two=-
if want c; then
  cp --reflink=auto "$share/big/big.bin" "$work/bob/share/big/big.bin"
  nsx 1 "$porch" share add "$work/bob/share/big" --data "$work/bob/data" >/dev/null
  serve 0 --max-upload "$rate"
  t=$(now); porch_in 2 get alice/big/big.bin --to "$work/carol/dl/one" 2>/dev/null
  one=$(elapsed "$t")
  serve 1 --max-upload "$rate"
  for _ in $(seq 600); do
    porch_in 2 ls bob/big/big.bin --json 2>/dev/null | grep -q '"cid": *"p1-' && break
    sleep 1
  done
  t=$(now); porch_in 2 get alice/big/big.bin --to "$work/carol/dl/two" 2>"$work/two.err"
  two=$(elapsed "$t")
fi

row "case" "porch s" "curl s" "porch speed"
row "startup: tiny file (discovery incl.)" "$porch_tiny" "-" "-"
if want a; then
  row "(a) ${big_mib} MiB file" "$porch_big" "$curl_big" "$(speed "$porch_big" "$curl_big")"
  row "(a) same over a $link link" "$link_porch" "$link_curl" "$(speed "$link_porch" "$link_curl")"
fi
if want c; then
  row "(c) 1 source @ $rate" "$one" "-" "-"
  row "(c) 2 sources @ $rate each" "$two" "-" "$(ratio "$one" "$two")x"
fi
if want a; then
  row "(a) client CPU s (user+sys)" "$porch_cpu" "$curl_cpu" "$(ratio "$porch_cpu" "$curl_cpu")x"
  row "peak RSS MiB: client (porch/curl)" "$porch_rss" "$curl_rss" "$(ratio "$porch_rss" "$curl_rss")"
fi
row "peak RSS MiB: server (porch/http)" "$alice_hwm" "$base_hwm" "$(ratio "$alice_hwm" "$base_hwm")"
printf '%s\n' "${rows[@]}"
((${#many_rows[@]})) && printf '%s\n' "" "${many_rows[@]}"
want c && tail -n1 "$work/two.err"
exit 0
