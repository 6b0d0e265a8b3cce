# Sourced by scripts/demo.sh and the benchmarks.

# Kill the process recorded in the JSON file $1 ({"pid":N,"start_time":T,…},
# T = field 22 of /proc/N/stat), if it is still that process.
kill_recorded() {
    local f=$1 pid want stat
    local -a fields
    [ -f "$f" ] || return 0
    pid=$(sed -n 's/.*"pid"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    want=$(sed -n 's/.*"start_time"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    [ -n "$pid" ] && [ "$pid" != 0 ] || return 0
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
    read -r -a fields <<<"${stat##*) }"   # fields[0] is field 3
    if [ -z "$want" ] || [ "${fields[19]:-}" = "$want" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# Kill the rootless holder and the network's pasta recorded in the state
# directory $1.
kill_holder() {
    kill_recorded "$1/network/pasta.json"
    kill_recorded "$1/holder.json"
}
