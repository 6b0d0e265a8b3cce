#!/usr/bin/env bash
# In a benchmark's own network namespace, as root: lo up and an uplink
# (veth up0, 198.18.0.2/24, default route via 198.18.0.1) so that pasta
# finds a default route to start on; nothing answers on it. With
# arguments, then runs them (`unshare --net -- bash uplink.sh CMD...`);
# sourced, it only sets up.
set -e
ip link set lo up
ip link add up0 type veth peer name up1
ip addr add 198.18.0.2/24 dev up0
ip link set up0 up
ip link set up1 up
ip route add default via 198.18.0.1
if [ "$#" -gt 0 ] && [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set +e
    "$@"
fi
