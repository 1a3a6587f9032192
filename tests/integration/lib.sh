# Sourced by the integration scripts. start_appliance BUILD WORK [options...]
# starts coinfer-appliance on a free loopback port (2 workers, one calibration
# run) with its output in WORK/app.out and WORK/app.err, waits until it listens,
# and sets app (its pid) and port; exits 1 with its stderr when it fails.
# The wait ends as soon as it listens; its bound (2 minutes) only guards against
# a hung start: calibration on a loaded host can take many seconds.
start_appliance() {
	_build=$1 _work=$2
	shift 2
	"$_build/coinfer-appliance" --port 0 --workers 2 --calibrate-runs 1 "$@" \
		>"$_work/app.out" 2>"$_work/app.err" &
	app=$!
	for _ in $(seq 1 1200); do
		grep -q '"listening"' "$_work/app.out" 2>/dev/null && break
		kill -0 $app 2>/dev/null || { cat "$_work/app.err"; exit 1; }
		sleep 0.1
	done
	port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$_work/app.out" | head -1)
	[ -n "$port" ] || { echo "appliance did not start"; cat "$_work/app.err"; exit 1; }
}
