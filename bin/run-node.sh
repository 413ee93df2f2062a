# Sourced by the bin scripts (bin/metricstream, bin/metricstream-consume) with ENTRY set to
# a module under src/ without extension (main/cli, consumer/cli). Runs it on a supported
# Node without npm, so a service manager can start it directly and its signals reach the
# process itself:
#   - the Node: $METRICSTREAM_NODE if set, else the one npm installed with the package (the
#     `node` dependency: node_modules/.bin/node in the package or a parent folder), else
#     `node` on PATH; src/main/require-node.mjs refuses one older than 22.18 with a message;
#   - the code: the .ts sources in a checkout, the compiled dist/*.js when installed as a
#     package (Node does not strip types inside node_modules).
# POSIX sh; `exec`, so the service manager's SIGTERM goes to the gateway, not to a shell.
self=$(readlink -f "$0")
root=$(dirname "$(dirname "$self")")
node=${METRICSTREAM_NODE:-}
if [ -z "$node" ]; then
  d=$root
  while [ -z "$node" ]; do
    if [ -x "$d/node_modules/.bin/node" ]; then node=$d/node_modules/.bin/node; fi
    [ "$d" = / ] && break
    d=$(dirname "$d")
  done
fi
case "$root" in
  */node_modules/*) script=$root/dist/$ENTRY.js ;;
  *) if [ -f "$root/src/$ENTRY.ts" ]; then script=$root/src/$ENTRY.ts; else script=$root/dist/$ENTRY.js; fi ;;
esac
node=${node:-node}
# First the version check alone: an old Node must read the message, not choke on a flag.
"$node" "$root/src/main/require-node.mjs" || exit 1
exec "$node" --single-threaded-gc --disable-warning=TimeoutNegativeWarning --import "$root/src/main/require-node.mjs" "$script" "$@"
