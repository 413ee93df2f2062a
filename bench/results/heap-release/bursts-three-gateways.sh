#!/bin/bash
# The probe behind the thirteenth round's heap-release change (bench/ISSUE-15.md), as run:
# three gateways at once, bursts of 3 s taken in turns (each gateway quiet for 18 s between
# its bursts), on three checkouts of c75fdca:
#   /work/main  as it was: a worker releases its heap (last-resort GC) after 10 s of quiet
#   /tmp/v1     HEAP_RELEASE_QUIET_MS = 1e12 in src/workers/settle-heap.ts: never
#   /tmp/v2     the release as gc({ type: 'major', execution: 'sync' }), not last-resort
# Output lines: variant, requests/s, p50, p99, max (ms). On main today the same comparison
# is --heap-release-after 10s against the default.
K=${1:-100}; R=${2:-8}
i=0
for root in /work/main /tmp/v1 /tmp/v2; do
  port=$((18100 + i * 10)); rm -rf /tmp/probe/b3-$i
  (cd $root && npm start -- --workers 2 --data-dir /tmp/probe/b3-$i --port $port --admin-port $((port+1)) > /tmp/probe/b3-$i.log 2>&1 &)
  i=$((i+1))
done
sleep 5
cd /work/main
for i in 0 1 2; do npm run load -- --port $((18100 + i * 10)) --clients 20 --duration 10 --metrics-per-request $K > /dev/null 2>&1; done
for r in $(seq 1 $R); do
  for i in 0 1 2; do
    sleep 4
    npm run load -- --port $((18100 + i * 10)) --clients 20 --duration 3 --metrics-per-request $K --json 2>/dev/null | python3 -c "
import json,sys
txt=sys.stdin.read(); d=json.loads(txt[txt.index('{'):])
print('v$i', round(d['requestsPerSecond']), round(d['latencyMs']['p50'],2), round(d['latencyMs']['p99'],2), round(d['latencyMs']['max'],1))"
  done
done
for i in 0 1 2; do curl -s localhost:$((18101 + i * 10))/metrics | grep "^metricstream_worker_heap_releases_total"; done
pkill -f "b3-"
sleep 1
