#!/bin/sh
# command tests: what `atomfs mount` decides before the kernel is asked:
# the signature policy (strict, fail closed, -o pubkey only adds to it).
# The mounts themselves are tested in the VM (tools/testing/e2e/run).
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

mkdir in mnt; echo x >in/f
openssl genpkey -algorithm ed25519 -out good.pem 2>/dev/null; openssl pkey -in good.pem -pubout -out good.pub
openssl genpkey -algorithm ed25519 -out evil.pem 2>/dev/null; openssl pkey -in evil.pem -pubout -out evil.pub
atomfs build -q --layer in L:plain
atomfs build -q --layer in --sign good.pem L:good
atomfs build -q --layer in --sign evil.pem L:evil

# Only the test build (ATOMFS_TEST_HOOKS) reads $ATOMFS_POLICY.
if ! strings "$(command -v atomfs)" | grep -q '^ATOMFS_POLICY$'; then
	skip "policy: tests" "this is not the test build (make -C userspace check builds it)"
	done_testing; exit
fi
export ATOMFS_POLICY="$T/policy.json"
policy() { printf '%s\n' "$1" >policy.json; chmod 0644 policy.json; }
refused="every mount is refused"

policy '{"require_signature": "true", "trusted_keys": ["'"$T"'/good.pub"]}'
check_fail_msg 4 'policy.json has "require_signature" that is not true or false' \
	"policy: require_signature as a string refuses the mount, naming file and key" atomfs mount L:good mnt
policy '{"require_signatures": true}'
check_fail_msg 4 'unknown key "require_signatures"' "policy: an unknown key refuses every mount" atomfs mount L:good mnt
policy '{"require_signature": true}'
check_fail_msg 4 "names no \"trusted_keys\"" "policy: requiring a signature without keys refuses" atomfs mount L:good mnt
policy '{"require_signature": true, "trusted_keys": "'"$T"'/good.pub"}'
check_fail_msg 4 '"trusted_keys" that is not an array' "policy: trusted_keys as a string refuses" atomfs mount L:good mnt
policy '{"require_signature": true, "trusted_keys": [ ]'
check_fail_msg 4 "is not valid JSON.*$refused" "policy: malformed JSON refuses every mount" atomfs mount L:good mnt
policy '{"require_signature": false, "require_signature": true}'
check_fail_msg 4 "not valid JSON" "policy: a duplicate key refuses" atomfs mount L:plain mnt
policy '{"require_signature": true, "trusted_keys": ["'"$T"'/good.pub"]}'
chmod 0666 policy.json
check_fail_msg 4 "writable by group or others" "policy: a policy others can write refuses every mount" atomfs mount L:good mnt
chmod 0644 policy.json
check_fail_msg 5 "requires a signature by one of its trusted keys" "policy: an unsigned image is refused" atomfs mount L:plain mnt
check_fail_msg 5 "requires a signature by one of its trusted keys" \
	"policy: -o pubkey=evil.pub does not replace the trusted keys" atomfs mount -o pubkey=evil.pub L:evil mnt
# past the policy, the mount goes on to the kernel (not loaded on this host)
atomfs mount L:good mnt >out 2>&1
check "policy: an image signed by a trusted key passes the policy" sh -c 'grep -q "kernel module is not installed" out && ! grep -q "policy\|signature" out'
check_fail_msg 5 "signature check with $T/evil.pub failed" \
	"policy: -o pubkey=K also requires a signature by K" atomfs mount -o pubkey=$T/evil.pub L:good mnt
# a trusted key found through the caller's directory, or one others can
# rewrite, lets whoever controls it make any image pass
mkdir -p elsewhere; cp evil.pub elsewhere/good.pub
policy '{"require_signature": true, "trusted_keys": ["good.pub"]}'
check_fail_msg 4 'entry 0 (good.pub) that is not an absolute path' \
	"policy: a relative trusted key is refused, not looked up in the caller's directory" \
	sh -c 'cd elsewhere && exec atomfs mount "$1" "$2"' sh "$T/L:evil" "$T/mnt"
cp evil.pub shared.pub; chmod 0666 shared.pub
policy '{"require_signature": true, "trusted_keys": ["'"$T"'/shared.pub"]}'
check_fail_msg 4 "key $T/shared.pub is writable by group or others" \
	"policy: a trusted key others can write does not count" atomfs mount L:evil mnt
rm policy.json
check_fail_msg 4 "key $T/shared.pub is writable by group or others" \
	"policy: a pubkey= key others can write does not count" atomfs mount -o pubkey=$T/shared.pub L:evil mnt
mkfifo fifo.pub
check_fail_msg 4 "key $T/fifo.pub is not a regular file" \
	"policy: a pubkey= FIFO is refused, not waited on" timeout 20 atomfs mount -o pubkey=$T/fifo.pub L:evil mnt
policy '{"require_signature": false}'
atomfs mount L:plain mnt >out 2>&1
check "policy: require_signature false lets an unsigned image through" sh -c 'grep -q "kernel module is not installed" out && ! grep -q "policy\|signature" out'
rm policy.json
atomfs mount L:plain mnt >out 2>&1
check "policy: no policy file, no requirement" sh -c 'grep -q "kernel module is not installed" out && ! grep -q "policy\|signature" out'

# the release build never reads the environment
rel="$ATOMFS_BUILD/../bin"
if [ -x "$rel/atomfs" ] && [ -x "$rel/mount.atomfs" ]; then
	check "policy: the release atomfs and mount.atomfs do not read ATOMFS_POLICY" sh -c "
		! strings '$rel/atomfs' | grep -q '^ATOMFS_POLICY\$' &&
		! strings '$rel/mount.atomfs' | grep -q '^ATOMFS_POLICY\$'"
else
	skip "policy: the release build does not read ATOMFS_POLICY" "no release build beside $ATOMFS_BUILD"
fi
done_testing
