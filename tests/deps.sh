#!/bin/sh
# deps.sh - install the Debian packages Broadside's build, tests and demo
# need: tests/deps.sh PACKAGE... (`make deps` passes its list).
#
# Only what is missing, non-interactive (no prompt, stdin closed: CI has
# none), and never silent: it says what it installs, how many packages that
# makes with their dependencies, how long it usually takes, and then counts
# the downloads, the packages unpacked and those set up as apt goes. apt's
# whole output is kept in $TMPDIR/broadside-deps.log; on failure its last
# lines are shown.
# Needs only sh and apt-get (a minimal Debian 12, as root).
set -u
missing=
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: the $# Debian packages needed are installed"
	exit 0
fi
echo "deps: to install:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: apt-get needs root: run 'make deps' as root (or sudo make deps)" >&2
	exit 77	# EX_NOPERM
fi
log=${TMPDIR:-/tmp}/broadside-deps.log
start=$(date +%s)
: >"$log"
fail() {
	echo "deps: $1 failed; the end of $log:" >&2
	tail -20 "$log" >&2
	exit 1
}
export DEBIAN_FRONTEND=noninteractive
# Postfix (its smtp-sink and smtp-source are test tools) asks what kind of
# mail server it is: none; the MTA is not started.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "deps: apt-get update (the package lists)"
apt-get update </dev/null >>"$log" 2>&1 || fail "apt-get update"
total=$(apt-get -s install --no-install-recommends $missing </dev/null 2>>"$log" | grep -c '^Inst ')
echo "deps: $total packages with their dependencies; on a fresh machine this takes"
echo "      2 to 8 minutes (the download and unpacking are most of it). Progress every ~5 %:"
rcfile=$log.rc
echo 1 >"$rcfile"
{ apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 $missing </dev/null 2>&1
  echo $? >"$rcfile"; } | tee -a "$log" | awk -v n="$total" '
	BEGIN { step = int(n / 20); if (step < 1) step = 1 }
	/^Need to get/ { print "deps: " $0; fflush() }
	/^Get:/ { g++; if (g % step == 0 || g == n) { printf "deps: downloaded %d of %d\n", g, n; fflush() } }
	/^Unpacking / { u++; if (u % step == 0 || u == n) {
		printf "deps: unpacked %d of %d\n", u, n; fflush() } }
	/^Setting up / { s++; if (s % step == 0 || s == n) {
		printf "deps: set up %d of %d (%s)\n", s, n, $3; fflush() } }'
rc=$(cat "$rcfile")
rm -f "$rcfile"
[ "$rc" = 0 ] || fail "apt-get install"
echo "deps: done in $(( $(date +%s) - start )) s"
