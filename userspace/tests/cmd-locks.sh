#!/bin/sh
# command tests: layout locks; two builds whose sources and destinations
# cross must not deadlock
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
if ! have flock; then
	skip "locks: crossing builds" "flock(1) (util-linux) is not installed"
	done_testing; exit
fi

mkdir in; echo x >in/f
atomfs build -q --mtime 1 --layer in X:t
atomfs build -q --mtime 2 --layer in Y:t

# A command that holds X and then reads Y (what 'build --from Y:t X:u'
# does) beside 'build --from X:t Y:u': the build must not hold Y while it
# waits for X, or both wait for ever (the holder gives up after 10 s).
flock -o X sh -c 'sleep 4; flock -s -w 10 Y true' & holder=$!
sleep 0.5
atomfs build --from X:t Y:u 2>a.err & a=$!
i=0 # a loaded machine can be slow to get there
until grep -q "waiting for the lock on X" a.err || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "locks: ... and says what it waits for" grep -q "waiting for the lock on X" a.err
check "locks: a build waiting for its source holds no lock on its destination" flock -n Y true
wait $holder; rh=$?
wait $a; ra=$?
check "locks: the crossing command gets its lock (no deadlock)" test $rh = 0
check "locks: ... and the build finishes" test $ra = 0

# the real thing, both ways at once, several times
ok=0
for i in 1 2 3; do
	atomfs build -q --from X:t Y:c$i & a=$!
	atomfs build -q --from Y:t X:c$i & b=$!
	j=0 # a deadlock never ends: give them 30 s
	while { kill -0 $a || kill -0 $b; } 2>/dev/null && [ $j -lt 300 ]; do sleep 0.1; j=$((j + 1)); done
	kill -9 $a $b 2>/dev/null
	wait $a && wait $b && ok=$((ok + 1))
done
check "locks: crossing builds (--from X Y beside --from Y X) all finish" test $ok = 3
done_testing
