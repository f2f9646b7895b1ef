#!/bin/sh
# command tests: crash consistency of the layout.  build, import, update,
# sign, gc and pull are each killed with SIGKILL at CRASH_POINTS (default
# 20; make fuzz: 200) random points: strace makes the Nth call of a
# syscall that writes or names the layout (chosen at random from a traced
# uninterrupted run, seeded: CRASH_SEED, printed) deliver SIGKILL.
# Afterwards `atomfs fsck` is clean, every tag points at the old or the
# complete new image, and the command run again succeeds and gives the new
# state.  Then ENOSPC (a small tmpfs, root only) and a read-only layout:
# one clear message, nothing changed.
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
export XDG_CACHE_HOME="$T/cache" HOME="$T/home" REGISTRY_AUTH_FILE="$T/auth.json"
unset XDG_RUNTIME_DIR
mkdir -p "$HOME"
PIDS=""
MNT=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

POINTS=${CRASH_POINTS:-20}
SEED=${CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# crash points: $POINTS per command, seed $SEED (CRASH_SEED=$SEED to repeat)"
if ! have strace; then
	echo "not ok - strace is needed to kill at a syscall: run 'make deps'"
	exit 1
fi
# strace and LeakSanitizer both want ptrace: no leak check in traced runs
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
SYS=openat,write,pwrite64,rename,renameat,renameat2,link,linkat,unlink,unlinkat,fsync,fdatasync,mkdir,mkdirat,ftruncate,fchmod,fchmodat

# state DIR...: per layout and tag, the manifest digest and how many
# signature referrers it has (what a reader of the layout sees)
state() {
	python3 - "$@" <<'PY'
import json, sys
for d in sys.argv[1:]:
    try:
        m = json.load(open(d + "/index.json"))["manifests"]
    except FileNotFoundError:
        print(d, "no layout"); continue
    sigs = {}
    for e in m:
        if e.get("artifactType"):
            try:
                b = json.load(open(d + "/blobs/sha256/" + e["digest"][7:]))
                s = b["subject"]["digest"]
            except (OSError, ValueError, KeyError):
                s = "missing or bad referrer " + e["digest"]
            sigs[s] = sigs.get(s, 0) + 1
    for e in m:
        t = (e.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        if t:
            print(d, t, e["digest"], sigs.get(e["digest"], 0))
    for s in sigs:
        if s.startswith("missing"):
            print(d, s)
PY
}
# fsck_all DIR...: every layout that exists is clean
fsck_all() {
	for d; do
		[ -e "$d/index.json" ] || continue
		atomfs fsck -q "$d" || return 1
	done
}

# crash NAME "LAYOUTS" CMD...: the pristine layouts are in pristine/;
# each run starts from a copy in w/
rnd=$SEED
next_rand() { rnd=$(( (rnd * 1103515245 + 12345) % 2147483648 )); }
crash() {
	name=$1 lays=$2; shift 2
	rm -rf w; cp -a pristine w
	(cd w && state $lays) >old.state
	(cd w && strace -f -qq -o "$T/trace" -e trace=$SYS "$@") >ref.out 2>&1 || {
		fail "crash: $name: the uninterrupted run works"; diag <ref.out; return; }
	(cd w && state $lays) >new.state
	if cmp -s old.state new.state && [ "$name" != gc ]; then
		fail "crash: $name: the uninterrupted run changes a tag"; diag <new.state; return
	fi
	# candidate points: calls after start-up (not under /proc, /sys, /usr...)
	sed -n 's/^[0-9]* *\([a-z0-9_]*\)(\(.*\)/\1 \2/p' "$T/trace" |
		awk '{ n[$1]++; if ($2 !~ /^"\/(proc|sys|usr|lib|etc|dev)/) print $1, n[$1] }' >points
	np=$(wc -l <points)
	[ "$np" -gt 0 ] || { fail "crash: $name: no kill points traced"; return; }
	i=0 bad="" killed=0 t0=$(date +%s)
	while [ $i -lt "$POINTS" ]; do
		i=$((i + 1)); next_rand
		pt=$(sed -n "$((rnd % np + 1))p" points)
		sc=${pt% *} k=${pt#* }
		rm -rf w; cp -a pristine w
		# (the subshell waits, so its "Killed" notice goes to run.out)
		(cd w && strace -f -qq -o /dev/null -e trace="$sc" \
			-e inject="$sc":signal=KILL:when="$k" "$@"; exit $?) >run.out 2>&1
		rc=$?
		[ $rc = 137 ] && killed=$((killed + 1)) # SIGKILL: the point was reached
		(cd w && state $lays) >now.state 2>&1
		if ! cmp -s now.state old.state && ! cmp -s now.state new.state; then
			bad="$bad $sc#$k:state"; { echo "at $sc call $k (exit $rc):"; cat now.state; } | diag; continue
		fi
		if ! (cd w && fsck_all $lays) >fsck.out 2>&1; then
			bad="$bad $sc#$k:fsck"; { echo "at $sc call $k:"; cat fsck.out; } | diag; continue
		fi
		if ! (cd w && "$@") >again.out 2>&1 || ! (cd w && state $lays | cmp -s - ../new.state); then
			bad="$bad $sc#$k:again"; { echo "at $sc call $k, then again:"; cat again.out; } | diag; continue
		fi
	done
	# A point counted across processes may not be reached in one of them;
	# most must be, or the run proves nothing.
	if [ $((killed * 2)) -lt "$POINTS" ]; then
		fail "crash: $name: only $killed of $POINTS runs were killed at their point"
	elif [ -z "$bad" ]; then
		pass "crash: $name killed at $POINTS points ($killed killed of $np traced calls, $(($(date +%s) - t0)) s): fsck clean, old or new, next run works"
	else
		fail "crash: $name: inconsistent after a kill at:$bad"
	fi
}

openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null; openssl pkey -in k.pem -pubout -out k.pub
mkdir -p in1 in2 dep1 dep2
echo one >in1/f; head -c 300000 /dev/urandom >in1/r
echo two >in2/f; head -c 300000 /dev/urandom >in2/r; mkdir in2/d; echo x >in2/d/x
echo v1 >dep1/lib; echo v2 >dep2/lib

# build: L:t from in1 rebuilt from in2 (the old image's blobs stay)
rm -rf pristine; mkdir pristine
atomfs build -q --mtime 5 --layer "$T/in1" pristine/L:t
crash build "L" atomfs build -q --mtime 5 --layer "$T/in2" L:t

# sign: an unsigned image gets its signature
crash sign "L" atomfs sign -q --key "$T/k.pem" L:t

# gc: an old image's blobs (the tag moved away from it) are removed
atomfs build -q --mtime 5 --layer "$T/in2" pristine/L:t
crash gc "L" atomfs gc -q L

# update: A:app swaps D:dep-1 for D:dep-2
rm -rf pristine; mkdir pristine
atomfs build -q --mtime 1 --layer "$T/in1" pristine/D:base
atomfs build -q --mtime 1 --from pristine/D:base --layer "$T/dep1" pristine/D:dep-1
atomfs build -q --mtime 1 --from pristine/D:base --layer "$T/dep2" pristine/D:dep-2
atomfs build -q --mtime 1 --from pristine/D:base --apply pristine/D:dep-1 --layer "$T/in2" pristine/A:app
crash update "A D" atomfs update -q --replace D:dep-1=D:dep-2 A:app

# import: a tar-layer image (umoci) into a layout that has the tag already
if have umoci; then
	rm -rf pristine; mkdir pristine
	umoci init --layout src >/dev/null 2>&1 && umoci new --image src:t >/dev/null 2>&1 &&
		umoci unpack --image src:t b >/dev/null 2>&1
	cp -a in2/. b/rootfs/
	umoci repack --refresh-bundle --image src:t b >/dev/null 2>&1
	atomfs build -q --mtime 5 --layer "$T/in1" pristine/I:t
	crash import "I" atomfs import -q --mtime 5 "$T/src:t" I:t
else
	skip "crash: import" "umoci is not installed"
fi

# pull: from docker-registry on loopback, over an older image of the tag
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if have docker-registry && have curl; then
	port=$(free_port)
	cat >reg.yml <<EOY
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $T/reg
http:
  addr: 127.0.0.1:$port
EOY
	env -u REGISTRY_AUTH_FILE docker-registry serve reg.yml >reg.log 2>&1 &
	PIDS="$PIDS $!"
	n=0; until curl -s -o /dev/null "http://127.0.0.1:$port/v2/" || [ $n -ge 100 ]; do sleep 0.1; n=$((n + 1)); done
	R=docker://127.0.0.1:$port X=--tls-verify=false
	rm -rf pristine src2; mkdir pristine
	atomfs build -q --mtime 5 --layer "$T/in1" src2:v1
	atomfs build -q --mtime 5 --layer "$T/in2" --sign "$T/k.pem" src2:v2
	atomfs push -q $X src2:v1 $R/app:v1 && atomfs push -q $X src2:v2 $R/app:v2 &&
		atomfs pull -q $X $R/app:v1 pristine/P:t
	crash pull "P" atomfs pull -q $X $R/app:v2 P:t
else
	skip "crash: pull" "docker-registry or curl is not installed"
fi

# one_error FILE: the command printed exactly one line, naming the cause
one_error() { [ "$(wc -l <"$1")" -eq 1 ] && grep -q "$2" "$1"; }
same_tree() { tree_state "$1" | cmp -s - "$2"; }
same_state() { state "$1" | cmp -s - "$2"; }

# ENOSPC: a 1 MiB tmpfs holds the layout; a 3 MB random layer does not fit
if is_root && mkdir full && mount -t tmpfs -o size=1m tmpfs full 2>/dev/null; then
	MNT=$T/full
	cp -a in2 big; head -c 3000000 /dev/urandom >big/big
	atomfs build -q --mtime 5 --layer "$T/in1" full/L:t
	state full/L >old.state; tree_state full/L >old.tree
	atomfs build -q --mtime 5 --layer "$T/big" full/L:t 2>enospc.err
	rc=$?
	check "enospc: build fails" test "$rc" -ne 0
	# the errno of the failed write (libsquashfs says only "I/O error")
	# and the layout's blob directory, not the temporary's /proc name
	check "enospc: one message naming the cause and the place" \
		one_error enospc.err "full/L/blobs/sha256).*No space left on device"
	check "enospc: the message names no /proc/self/fd path" \
		sh -c "! grep -q /proc/self enospc.err"
	check "enospc: the layout is unchanged (no partial blob left)" same_tree full/L old.tree
	check "enospc: fsck is clean" atomfs fsck -q full/L
	check "enospc: the next command (that fits) succeeds" atomfs build -q --mtime 5 --layer "$T/in2" full/L:t
	umount full && MNT=""
else
	skip "enospc: build on a full filesystem" "mounting a small tmpfs needs root"
fi

# read-only layout: every writing command fails with one clear message and
# changes nothing (root: a read-only bind mount, as permissions do not bind it)
# (in1's layer is garbage for gc)
rm -rf ro; atomfs build -q --mtime 5 --layer "$T/in1" ro:t
atomfs build -q --mtime 5 --layer "$T/in2" ro:t
if is_root; then
	mount --bind ro ro && mount -o remount,bind,ro ro && MNT=$T/ro
	cause="Read-only file system"
else
	chmod -R a-w ro
	cause="Permission denied"
fi
tree_state ro >ro.tree
for c in "build -q --mtime 5 --layer $T/in2 ro:t" "sign -q --key $T/k.pem ro:t" \
	"gc ro" "build -q --mtime 5 --from ro:t --layer $T/in2 ro:new"; do
	atomfs ${c%% *} ${c#* } 2>ro.err
	rc=$?
	check "read-only layout: atomfs ${c%% *} fails (exit $rc)" test $rc -ne 0
	if one_error ro.err "$cause"; then
		pass "read-only layout: atomfs ${c%% *}: one message: $cause"
	else
		fail "read-only layout: atomfs ${c%% *}: one message: $cause"
		diag <ro.err
	fi
	check "read-only layout: atomfs ${c%% *} changed nothing" same_tree ro ro.tree
done
check "read-only layout: fsck works and is clean" atomfs fsck -q ro
if [ -n "$MNT" ]; then umount ro; MNT=""; else chmod -R u+w ro; fi
check "read-only layout: writable again, the next command succeeds" atomfs sign -q --key "$T/k.pem" ro:t
done_testing
