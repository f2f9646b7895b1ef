// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * runtime.c: OCI runtime configs (config.json of a bundle) for crun or runc,
 * made from an image's config: `atomfs inspect --runtime-config` and the
 * `run:` steps of a recipe.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"
#include "runtime.h"

/* what Docker and `runc spec` give a container */
static const char *const default_caps[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
	"/proc/acpi",	     "/proc/asound",	    "/proc/kcore",
	"/proc/keys",	     "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug",   "/proc/scsi",
	"/sys/firmware",
};

static const char *const readonly_paths[] = {
	"/proc/bus",	       "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger",
};

void runtime_env_put(json_t *env, const char *k, const char *v)
{
	size_t kl = strlen(k), i;
	json_t *e;

	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);

		if (s && !strncmp(s, k, kl) && s[kl] == '=') {
			json_array_set_new(
				env, i,
				json_string(xasprintf_tmp("%s=%s", k, v)));
			return;
		}
	}
	json_array_append_new(env, json_string(xasprintf_tmp("%s=%s", k, v)));
}

json_t *runtime_mount(const char *dst, const char *type, const char *src,
		      const char *opts)
{
	json_t *o = json_array();
	char s[256], *tok, *save = NULL; /* opts: this source's constants */

	snprintf(s, sizeof(s), "%s", opts);
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		json_array_append_new(o, json_string(tok));
	return json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type",
			 type, "source", src, "options", o);
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *runtime_env(const json_t *image_config)
{
	json_t *env = json_deep_copy(json_object_get(
		json_object_get(image_config, "config"), "Env"));
	bool have_path = false;
	json_t *v;
	size_t i;

	if (!json_is_array(env)) {
		json_decref(env);
		env = json_array();
	}
	json_array_foreach(env, i, v)
		have_path |= str_has_prefix(json_string_value(v), "PATH=");
	if (!have_path)
		runtime_env_put(
			env, "PATH",
			"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	return env;
}

json_t *runtime_spec_new(const struct runtime_spec *rs)
{
	json_t *capv = strings(default_caps, ARRAY_SIZE(default_caps));
	json_t *mounts = json_array(), *ns, *m;
	size_t i;

	json_array_append_new(mounts, runtime_mount("/proc", "proc", "proc",
						    "nosuid,noexec,nodev"));
	json_array_append_new(
		mounts,
		runtime_mount("/dev", "tmpfs", "tmpfs",
			      "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(
		mounts,
		runtime_mount(
			"/dev/pts", "devpts", "devpts",
			"nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
	json_array_append_new(
		mounts,
		runtime_mount("/dev/shm", "tmpfs", "shm",
			      "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(mounts, runtime_mount("/sys", "sysfs", "sysfs",
						    "nosuid,noexec,nodev,ro"));
	json_array_foreach(rs->mounts, i, m) json_array_append(mounts, m);
	ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type",
		       "mount", "type", "ipc", "type", "uts");
	if (rs->network_ns)
		json_array_append_new(ns,
				      json_pack("{s:s}", "type", "network"));
	return json_pack(
		"{s:s, s:{s:b, s:{s:I, s:I}, s:O, s:O, s:s, s:{s:O, s:O, s:O, s:o}, s:b},"
		" s:{s:s, s:b}, s:s, s:o, s:{s:o, s:o, s:o}}",
		"ociVersion", "1.0.2", "process", "terminal", 0, "user", "uid",
		(json_int_t)rs->uid, "gid", (json_int_t)rs->gid, "args",
		rs->args, "env", rs->env, "cwd",
		rs->cwd && rs->cwd[0] == '/' ? rs->cwd : "/", "capabilities",
		"bounding", capv, "effective", capv, "permitted", capv,
		"ambient", capv, "noNewPrivileges", rs->no_new_privs, "root",
		"path", rs->rootfs, "readonly", rs->readonly, "hostname",
		rs->hostname ? rs->hostname : "atomfs", "mounts", mounts,
		"linux", "namespaces", ns, "maskedPaths",
		strings(masked_paths, ARRAY_SIZE(masked_paths)),
		"readonlyPaths",
		strings(readonly_paths, ARRAY_SIZE(readonly_paths)));
}

/* an id of N digits at S, at most 4294967294 (-1 is no id) */
static bool parse_id(const char *s, size_t n, uint32_t *id)
{
	unsigned long long v = 0;
	size_t i;

	if (!n || n > 10)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > UINT32_MAX - 1)
		return false;
	*id = (uint32_t)v;
	return true;
}

/*
 * NAME's id in ROOTFS's /etc/passwd or /etc/group (@file), read inside the
 * image's root: its symlinks cannot lead out of it. -ENOENT if absent.
 */
static int lookup_id(const char *rootfs, const char *file, const char *name,
		     size_t nlen, uint32_t *id, uint32_t *gid)
{
	/* O_NONBLOCK: a FIFO planted there must not hang us */
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
				.resolve = RESOLVE_IN_ROOT |
					   RESOLVE_NO_MAGICLINKS };
	cleanup_free char *line = NULL;
	size_t cap = 0, total = 0;
	int root, fd, err = -ENOENT;
	struct stat st;
	ssize_t len;
	FILE *f;

	root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return atomfs_err(errno, "%s: %m", rootfs);
	fd = (int)syscall(SYS_openat2, root, file, &how, sizeof(how));
	close(root);
	if (fd < 0)
		return atomfs_err(errno,
				  "%s/%s: %m (needed to find user '%.*s')",
				  rootfs, file, (int)nlen, name);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return atomfs_err(EINVAL, "%s/%s is not a regular file", rootfs,
				  file);
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return atomfs_err(errno, "%s/%s: %m", rootfs, file);
	}
	/* name:password:id[:gid:...], whole lines, at most 16 MiB read */
	while ((len = getline(&line, &cap, f)) > 0 &&
	       (total += (size_t)len) <= (16u << 20)) {
		char *f1 = memchr(line, ':', (size_t)len), *f2, *f3, *end;
		unsigned long long v;

		if (!f1 || (size_t)(f1 - line) != nlen ||
		    memcmp(line, name, nlen))
			continue;
		f2 = strchr(f1 + 1, ':');
		if (!f2)
			break;
		v = strtoull(f2 + 1, &end, 10);
		if (end == f2 + 1 || (*end != ':' && *end != '\n' && *end) ||
		    v > UINT32_MAX - 1)
			break;
		*id = (uint32_t)v;
		if (gid && *end == ':') {
			f3 = end + 1;
			v = strtoull(f3, &end, 10);
			if (end == f3 || v > UINT32_MAX - 1)
				break;
			*gid = (uint32_t)v;
		}
		err = 0;
		break;
	}
	fclose(f);
	if (err)
		return atomfs_err(ENOENT,
				  "user or group '%.*s' is not in %s/%s",
				  (int)nlen, name, rootfs, file);
	return 0;
}

int runtime_user(const char *user, const char *rootfs, uint32_t *uid,
		 uint32_t *gid)
{
	const char *colon;
	size_t ulen;
	int err;

	*uid = *gid = 0;
	if (!user || !*user)
		return 0;
	colon = strchr(user, ':');
	ulen = colon ? (size_t)(colon - user) : strlen(user);
	if (!parse_id(user, ulen, uid)) {
		if (!rootfs)
			return atomfs_err(
				EINVAL,
				"the image's user '%s' is a name: give --rootfs DIR (the mounted image) to look it up",
				user);
		err = lookup_id(rootfs, "etc/passwd", user, ulen, uid, gid);
		if (err)
			return err;
	}
	if (!colon)
		return 0;
	if (parse_id(colon + 1, strlen(colon + 1), gid))
		return 0;
	if (!rootfs)
		return atomfs_err(
			EINVAL,
			"the image's group in '%s' is a name: give --rootfs DIR (the mounted image) to look it up",
			user);
	return lookup_id(rootfs, "etc/group", colon + 1, strlen(colon + 1), gid,
			 NULL);
}
