#!/bin/sh
# command tests: atomfs inspect --runtime-config, the OCI runtime config
# (a bundle's config.json) made from an image's config
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

mkdir -p r/etc r/bin
# the image's /etc/passwd is an absolute symlink: it must resolve inside
# the image's root (r/etc/pw), not to the host's /etc/pw
ln -s /etc/pw r/etc/passwd
echo 'app:x:1234:5678::/:/bin/sh' >r/etc/pw
echo 'grp:x:4321:' >r/etc/group
(cd r && tar -cf ../r.tar .)
cat >rt.yaml <<'EOY'
R:
  from: {type: tar, url: r.tar}
  entrypoint: [/bin/echo, hi]
  cmd: [there]
  environment: {K: v}
  working_dir: /w
  runtime_user: app:grp
N:
  from: {type: tar, url: r.tar}
  runtime_user: "7:8"
  cmd: /bin/true
S:
  from: {type: tar, url: r.tar}
U:
  from: {type: tar, url: r.tar}
  runtime_user: app
  cmd: /bin/true
EOY
atomfs build -q -f rt.yaml -o oci >/dev/null 2>&1 || echo "not ok - fixture: build rt.yaml"
check "runtime-config: an image with a named user, given its rootfs" \
	sh -c 'atomfs inspect --runtime-config --rootfs "$PWD/r" oci:R >r.json'
check "runtime-config: args are Entrypoint then Cmd; Env, cwd; the names looked up inside the rootfs" python3 -c '
import json; c = json.load(open("r.json")); p = c["process"]
assert p["args"] == ["/bin/echo", "hi", "there"], p["args"]
assert "K=v" in p["env"] and any(e.startswith("PATH=") for e in p["env"]), p["env"]
assert p["cwd"] == "/w" and p["user"] == {"uid": 1234, "gid": 4321}, p
assert c["root"]["path"].endswith("/r") and c["ociVersion"].startswith("1.")
assert {"type": "network"} in c["linux"]["namespaces"] and {"type": "mount"} in c["linux"]["namespaces"]
assert [m["destination"] for m in c["mounts"]][:2] == ["/proc", "/dev"]'
check "runtime-config: numeric ids need no rootfs; root.path defaults to the bundle's rootfs" \
	sh -c 'atomfs inspect --runtime-config oci:N >n.json && python3 -c "
import json; c = json.load(open(\"n.json\"))
assert c[\"process\"][\"user\"] == {\"uid\": 7, \"gid\": 8} and c[\"root\"][\"path\"] == \"rootfs\"
assert c[\"process\"][\"cwd\"] == \"/\" and c[\"process\"][\"args\"][-1] == \"/bin/true\", c"'
check_fail_msg 4 "is a name: give --rootfs" "runtime-config: a user name without --rootfs is an error saying what to give" \
	atomfs inspect --runtime-config oci:R
mkdir -p empty
check_fail_msg 3 "needed to find user 'app'" "runtime-config: a rootfs without /etc/passwd names the file" \
	atomfs inspect --runtime-config --rootfs "$PWD/empty" oci:R
check_fail_msg 4 "neither Entrypoint nor Cmd" "runtime-config: an image with nothing to run is an error" \
	atomfs inspect --runtime-config oci:S
check "runtime-config: a user name alone takes its group from the image's /etc/passwd" \
	sh -c 'atomfs inspect --runtime-config --rootfs "$PWD/r" oci:U | python3 -c "
import json,sys; assert json.load(sys.stdin)[\"process\"][\"user\"] == {\"uid\": 1234, \"gid\": 5678}"'
mkdir -p fifo/etc && mkfifo fifo/etc/passwd
check_fail_msg 4 "fifo/etc/passwd is not a regular file" "runtime-config: a FIFO as /etc/passwd is refused, not waited on" \
	timeout 20 atomfs inspect --runtime-config --rootfs "$PWD/fifo" oci:U
check_exit 2 "runtime-config: --rootfs without --runtime-config is a usage error" \
	atomfs inspect --rootfs r oci:R
done_testing
