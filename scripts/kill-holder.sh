# Sourced by scripts/demo.sh and bench/start.sh.

# Kill the rootless holder recorded in $1/holder.json ({"pid":N,"start_time":T},
# T = field 22 of /proc/N/stat), if it is still that process.
kill_holder() {
    local f=$1/holder.json pid want stat
    local -a fields
    [ -f "$f" ] || return 0
    pid=$(sed -n 's/.*"pid"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    want=$(sed -n 's/.*"start_time"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    [ -n "$pid" ] || return 0
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
    read -r -a fields <<<"${stat##*) }"   # fields[0] is field 3
    if [ -z "$want" ] || [ "${fields[19]:-}" = "$want" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
}
