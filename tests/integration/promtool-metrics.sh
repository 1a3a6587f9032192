#!/bin/sh
# The appliance's GET /metrics as Prometheus tooling sees it: a live appliance
# serving a test policy (make-policy, class pi4-est) with SLO deadlines 30 and
# 150 ms, after agents asked its policy and sent requests and one peer stayed
# silent past the idle timeout; `promtool check metrics` (Debian package
# prometheus) must print nothing. The scrape must also hold each deadline as a
# bucket edge of the three time histograms, as many server times as RESULTs,
# the decided actions and the silent peer as refused (no_hello); and, from an
# SLO file (applications camera and ar), its deadlines as edges too and every
# RESULT counted against camera's SLO, none against ar's.
# usage: promtool-metrics.sh BUILD_DIR MAKE_POLICY
# Skips (77) without promtool or CIFAR-10.
set -eu
build=$1 make_policy=$2
command -v promtool >/dev/null || { echo "no promtool (Debian package prometheus): skipping"; exit 77; }
work=$(mktemp -d)
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
"$make_policy" "$work/p.policy" pi4-est 3 250 >"$work/policy.json"

. "$(dirname "$0")/lib.sh"

cat >"$work/slo.yaml" <<'YAML'
applications:
  - name: camera
    deadline_ms: 250
    objective: 0.9
  - name: ar
    deadline_ms: 20
YAML
start_appliance "$build" "$work" --policy "$work/p.policy" --metrics-port 0 \
	--slo-deadlines-ms 150,30 --idle-timeout-ms 300 --slo "$work/slo.yaml"
url=$(sed -n 's/.*"metrics": "\([^"]*\)".*/\1/p' "$work/app.out" | head -1)
[ -n "$url" ] || { echo "FAIL: no metrics URL in the start-up line"; cat "$work/app.out"; exit 1; }

scrape() {
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=60).read().decode())' "$url"
}

# a peer that never says HELLO: refused once the sweep finds it past the timeout
python3 - "$port" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(120)
try:
    s.recv(1)  # the appliance closes it
except OSError:
    pass
PY
silent=$!
set +e
# the deadline and the connect wait only guard against a hung host
"$build/coinfer-agent" --edge 127.0.0.1:$port --fleet 4 --threads 2 --requests 10 \
	--deadline-ms 250 --codec huffman-zrun --class pi4-est --edge-decides --app camera \
	--connect-wait-ms 60000 >"$work/agents.out" 2>"$work/agents.err"
set -e
wait $silent
nodata=0
grep -q "CIFAR-10" "$work/agents.err" && nodata=1
scrape >"$work/metrics.txt"

# promtool's word first: it holds whatever the scrape holds
set +e
promtool check metrics <"$work/metrics.txt" >"$work/promtool.out" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ] || [ -s "$work/promtool.out" ]; then
	echo "FAIL: promtool check metrics exited $rc:"
	cat "$work/promtool.out"
	exit 1
fi
echo "promtool check metrics: clean ($(grep -c '^coinfer_' "$work/metrics.txt") samples)"
python3 - "$work/metrics.txt" "$nodata" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
nodata = sys.argv[2] == "1"
s = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        s[name] = float(value)
P = "coinfer_appliance_"
fail = []
for h in ("request_duration_seconds", "request_queue_duration_seconds",
          "request_compute_duration_seconds"):
    for le in ("0.03", "0.15", "0.025", "0.02", "0.25", "+Inf"):
        if P + h + '_bucket{le="%s"}' % le not in s:
            fail.append("%s has no bucket le=%s" % (h, le))
    if s.get(P + h + "_count") != s.get(P + "results_total"):
        fail.append("%s_count %s, results_total %s" % (h, s.get(P + h + "_count"),
                                                         s.get(P + "results_total")))
if s.get(P + 'refused_devices_total{reason="no_hello"}', 0) < 1:
    fail.append("the silent peer is not counted refused (no_hello)")
def slo(name, app):
    return s.get(P + 'slo_%s{application="%s"}' % (name, app))
if slo("objective_ratio", "camera") != 0.9 or slo("window_seconds", "ar") != 300:
    fail.append("SLO objective/window: %s %s" % (slo("objective_ratio", "camera"),
                                                slo("window_seconds", "ar")))
if slo("requests_total", "ar") != 0 or slo("attainment_ratio", "ar") != 1:
    fail.append("ar has answers: %s" % slo("requests_total", "ar"))
tot, met = slo("requests_total", "camera"), slo("requests_met_total", "camera")
if tot is None or tot < s.get(P + "results_total", 0) or met > tot:
    fail.append("camera's SLO counts: %s answers, %s met, %s RESULTs" % (
        tot, met, s.get(P + "results_total")))
if tot and abs(slo("attainment_ratio", "camera") - met / tot) > 1e-9:
    fail.append("camera's attainment %s, met/answers %s" % (
        slo("attainment_ratio", "camera"), met / tot))
if not nodata:
    acts = sum(v for k, v in s.items() if k.startswith(P + 'decided_actions_total{source="decision"'))
    if s.get(P + "results_total", 0) < 1:
        fail.append("no RESULT counted")
    if acts != s.get(P + "decisions_total"):
        fail.append("decided actions %s, DECIDEs answered %s" % (acts, s.get(P + "decisions_total")))
    nxt = sum(v for k, v in s.items() if k.startswith(P + 'decided_actions_total{source="next_action"'))
    if nxt != s.get(P + "suggestions_total"):
        fail.append("next actions %s, suggestions %s" % (nxt, s.get(P + "suggestions_total")))
for f in fail:
    print("FAIL:", f)
print("camera: %s answers, %s met, burn rate %s; " % (
    tot, met, slo("error_budget_burn_rate", "camera")), end="")
print("results %d, decisions %d, next actions %d, refused no_hello %d%s" % (
    s.get(P + "results_total", 0), s.get(P + "decisions_total", 0),
    s.get(P + "suggestions_total", 0), s.get(P + 'refused_devices_total{reason="no_hello"}', 0),
    " (no CIFAR-10: no requests)" if nodata else ""))
sys.exit(1 if fail else 0)
PY
