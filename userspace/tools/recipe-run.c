// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * recipe-run.c: a stanza's run: steps in an OCI runtime on an atomfs mount.
 *
 * BUILDDIR/run/NAME/ holds, for the time of one stanza:
 *   oci/        the image so far (the destination's blobs, hard-linked),
 *   persist/    upper/ and work/ of the writable mount,
 *   rootfs/     where the image is mounted writable (verified by the kernel),
 *   bundle/     the OCI runtime bundle (config.json), one step at a time,
 *   state/      the runtime's state directory.
 * Each step is one 'crun run' of /bin/sh -e -c STEP; its output is copied to
 * stderr with the stanza's name in front.  After the last step the image is
 * unmounted and upper/ becomes one squashfs layer (its whiteouts and opaque
 * directories carried, overlayfs's other xattrs dropped).  Everything under
 * run/NAME/ is removed whatever happens.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"
#include "mount.h"
#include "recipe_run.h"
#include "runtime.h"

int recipe_step_status;

/*
 * overlayfs cannot use an upper directory on 9p, NFS, FUSE...  The
 * filesystem type comes from mountinfo (by device number): statfs() on 9p
 * reports the server's filesystem, not 9p.
 */
static int check_upper_fs(const char *dir)
{
	static const char *const bad[] = { "9p",   "nfs",  "nfs4",   "cifs",
					   "smb3", "fuse", "overlay" };
	char line[8192], fstype[256] = "";
	unsigned int maj, min;
	struct stat st;
	FILE *f;
	size_t i;

	if (stat(dir, &st))
		return atomfs_err(errno, "cannot stat build directory %s: %s",
				  dir, strerror(errno));
	f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");

		if (sscanf(line, "%*u %*u %u:%u", &maj, &min) == 2 && dash &&
		    makedev(maj, min) == st.st_dev)
			sscanf(dash + 3, "%255s", fstype);
	}
	if (f)
		fclose(f);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (!strcmp(fstype, bad[i]) ||
		    (!strcmp(bad[i], "fuse") && str_has_prefix(fstype, "fuse")))
			return atomfs_err(
				EXDEV,
				"build directory %s is on %s, which overlayfs cannot use for the upper directory of run steps; give --build-dir on a local filesystem (ext4, xfs, btrfs, tmpfs)",
				dir, fstype);
	return 0;
}

static int run_oom(const struct atomfs_recipe_stanza *s)
{
	return atomfs_err(ENOMEM,
			  "out of memory while running the steps of stanza %s",
			  s->name);
}

/* the image so far as DIR:run, in a layout of its own */
static int stage_image(struct atomfs_layout *dst, const json_t *layers,
		       const json_t *config, const char *dir)
{
	struct atomfs_layout *l = NULL;
	json_t *ls = json_deep_copy(layers), *cfg = json_deep_copy(config);
	json_t *mdesc = NULL, *d;
	size_t i;
	int err;

	err = atomfs_layout_open(
		dir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE, &l);
	json_array_foreach(ls, i, d)
	{
		if (err)
			break;
		err = atomfs_layout_import_blob(
			l, dst, atomfs_desc_str(d, "digest"),
			json_integer_value(json_object_get(d, "size")));
	}
	if (!err)
		err = atomfs_image_write(l, cfg, ls, NULL, &mdesc);
	if (!err) {
		err = atomfs_layout_set_tag(l, "run", mdesc);
		mdesc = NULL;
	}
	if (!err)
		err = atomfs_layout_write_index(l);
	json_decref(mdesc);
	json_decref(ls);
	json_decref(cfg);
	atomfs_layout_close(l);
	return err;
}

/* the OCI runtime config of one step */
static json_t *runtime_config(const struct atomfs_recipe_stanza *s,
			      const struct recipe_run_opts *o,
			      const json_t *config, const char *rootfs,
			      const char *script)
{
	const json_t *icfg = json_object_get(config, "config");
	json_t *env = runtime_env(config), *mounts = json_array(), *v, *c;
	struct runtime_spec rs = {
		.env = env,
		.cwd = json_string_value(json_object_get(icfg, "WorkingDir")),
		.rootfs = rootfs,
		.hostname = "atomfs-build",
		/* steps share the host's network (apt-get) unless told not to */
		.network_ns = o->network_none,
		.mounts = mounts,
	};
	const char *k;
	size_t i;

	json_object_foreach(s->environment, k, v)
		runtime_env_put(env, k, json_string_value(v));
	json_object_foreach(s->build_env, k, v)
		runtime_env_put(env, k, json_string_value(v));
	runtime_env_put(env, "ATOMFS_STANZA", s->name);
	runtime_env_put(env, "STACKER_LAYER_NAME", s->name);
	if (s->working_dir)
		rs.cwd = s->working_dir;
	for (i = 0; i < s->nimports; i++) {
		const struct atomfs_recipe_import *im = &s->imports[i];

		/* a step without its imports must not run: NULL, no memory */
		if (json_array_append_new(
			    mounts,
			    runtime_mount(xasprintf_tmp("/atomfs/imports/%s",
							im->name),
					  "bind", im->path,
					  "rbind,ro,nosuid,nodev")) ||
		    json_array_append_new(
			    mounts,
			    runtime_mount(xasprintf_tmp("/stacker/imports/%s",
							im->name),
					  "bind", im->path,
					  "rbind,ro,nosuid,nodev"))) {
			json_decref(mounts);
			json_decref(env);
			return NULL;
		}
	}
	rs.args = json_pack("[s, s, s, s]", "/bin/sh", "-e", "-c", script);
	c = runtime_spec_new(&rs);
	json_decref(rs.args);
	json_decref(mounts);
	json_decref(env);
	return c;
}

/* paths the runtime creates as mount points, to be removed from the layer */
static const char *const made_points[] = { "proc", "dev", "sys", "atomfs",
					   "stacker" };

static bool cgroup2_mounted(void)
{
	return access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
}

/* is / the initramfs, where pivot_root(2) cannot work? */
static bool root_is_rootfs(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	bool r = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - ");
		unsigned int id, parent;
		char mp[4096];

		if (sscanf(line, "%u %u %*s %*s %4095s", &id, &parent, mp) ==
			    3 &&
		    !strcmp(mp, "/") && dash &&
		    (str_has_prefix(dash + 3, "rootfs ") ||
		     str_has_prefix(dash + 3, "ramfs ") ||
		     str_has_prefix(dash + 3, "tmpfs ")))
			r = true;
		if (!strcmp(mp, "/") && dash &&
		    !str_has_prefix(dash + 3, "rootfs ") &&
		    !str_has_prefix(dash + 3, "ramfs ") &&
		    !str_has_prefix(dash + 3, "tmpfs "))
			r = false;
	}
	fclose(f);
	return r;
}

/* run one step, copying its output with the stanza's name in front */
static int run_step(const char *name, const struct recipe_run_opts *o,
		    const char *state, const char *bundle, const char *id,
		    int *status)
{
	const char *argv[12];
	int p[2], n = 0, ws;
	pid_t pid;
	FILE *in;
	char line[8192];

	argv[n++] = o->runtime;
	argv[n++] = "--root";
	argv[n++] = state;
	if (!strcmp(o->runtime, "crun") && !cgroup2_mounted())
		argv[n++] = "--cgroup-manager=disabled";
	argv[n++] = "run";
	argv[n++] = "--bundle";
	argv[n++] = bundle;
	if (root_is_rootfs())
		argv[n++] = "--no-pivot";
	argv[n++] = id;
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC))
		return atomfs_err(errno, "pipe: %s", strerror(errno));
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return atomfs_err(errno, "fork: %s", strerror(errno));
	}
	if (!pid) {
		int nul = open("/dev/null", O_RDONLY);

		dup2(nul, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(p[1]);
	in = fdopen(p[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		if (!atomfs_quiet)
			fprintf(stderr, "%s: %s%s", name, line,
				strchr(line, '\n') ? "" : "\n");
	}
	if (in)
		fclose(in);
	else
		close(p[0]);
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return atomfs_err(errno, "waitpid: %s",
					  strerror(errno));
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return 0;
}

static const char *first_line(const char *s, char *buf, size_t n)
{
	size_t l = strcspn(s, "\n");

	snprintf(buf, n, "%.*s%s", (int)(l < n - 4 ? l : n - 4), s,
		 s[l] ? " ..." : "");
	return buf;
}

/* ---- copied up but not changed: not the steps' work ---- */

/* xattrs of p other than overlayfs's own: "name=hexvalue\n"..., in list order */
static char *xattr_text(const char *p)
{
	static char names[65536], val[65536];
	ssize_t len = llistxattr(p, names, sizeof(names));
	char *out = NULL, *k;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	for (k = names; f && len > 0 && k < names + len; k += strlen(k) + 1) {
		ssize_t vl, j;

		if (str_has_prefix(k, "trusted.overlay.") ||
		    str_has_prefix(k, "user.overlay."))
			continue;
		vl = lgetxattr(p, k, val, sizeof(val));
		fprintf(f, "%s=", k);
		for (j = 0; j < vl; j++)
			fprintf(f, "%02x", (unsigned char)val[j]);
		fputc('\n', f);
	}
	if (f)
		fclose(f);
	return out ? out : strdup(""); /* NULL: no memory */
}

static bool same_content(const char *a, const char *b)
{
	char ba[65536], bb[65536];
	int fa = open(a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int fb = open(b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool same = fa >= 0 && fb >= 0;

	while (same) {
		ssize_t na = read(fa, ba, sizeof(ba));
		ssize_t nb = na > 0 ? read(fb, bb, (size_t)na) :
				      read(fb, bb, 1);

		if (na < 0 || nb != na || memcmp(ba, bb, (size_t)na))
			same = false;
		if (na <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

static const char *prune_upper, *prune_lower;

static int prune_entry(const char *p, const struct stat *su, int flag,
		       struct FTW *ftw)
{
	cleanup_free char *lp = NULL, *xu = NULL, *xl = NULL;
	struct stat sl;

	(void)ftw;
	if (flag != FTW_F || !(S_ISREG(su->st_mode) || S_ISLNK(su->st_mode)))
		return 0;
	lp = atomfs_join(prune_lower, p + strlen(prune_upper));
	if (!lp) {
		errno = ENOMEM; /* the walk stops: "cannot walk UPPER" */
		return -1;
	}
	if (lstat(lp, &sl) || (sl.st_mode & S_IFMT) != (su->st_mode & S_IFMT) ||
	    sl.st_mode != su->st_mode || sl.st_uid != su->st_uid ||
	    sl.st_gid != su->st_gid || sl.st_size != su->st_size)
		return 0;
	if (S_ISLNK(su->st_mode)) {
		char tu[4096], tl[4096];
		ssize_t nu = readlink(p, tu, sizeof(tu));
		ssize_t nl = readlink(lp, tl, sizeof(tl));

		if (nu < 0 || nu != nl || memcmp(tu, tl, (size_t)nu))
			return 0;
	} else if (!same_content(p, lp)) {
		return 0;
	}
	xu = xattr_text(p);
	xl = xattr_text(lp);
	if (!xu || !xl) {
		errno = ENOMEM;
		return -1;
	}
	if (!strcmp(xu, xl))
		unlink(p);
	return 0;
}

/*
 * overlayfs copies a file up on any write or metadata change: drop the
 * files (and links) whose content, mode, owner and xattrs equal what the
 * image below has, so the layer holds only real changes.
 */
static int prune_unchanged(const char *ref, const char *upper,
			   const char *lower)
{
	struct atomfs_mount_opts mo = { .ms_flags = MS_RDONLY };
	int err = atomfs_mount(ref, lower, &mo);

	if (err)
		return err;
	prune_upper = upper;
	prune_lower = lower;
	if (nftw(upper, prune_entry, 32, FTW_PHYS | FTW_MOUNT))
		err = atomfs_err(errno, "cannot walk %s: %s", upper,
				 strerror(errno));
	prune_upper = prune_lower = NULL;
	if (atomfs_umount(lower) && !err)
		err = -EBUSY;
	return err;
}

int recipe_run_stanza(const struct atomfs_recipe *r,
		      const struct atomfs_recipe_stanza *s,
		      const struct recipe_run_opts *o,
		      struct atomfs_layout *dst, const json_t *layers,
		      const json_t *config, const char *builddir,
		      const struct layer_opts *lo, json_t **desc)
{
	cleanup_free char *top = NULL, *runs = NULL, *oci = NULL, *ref = NULL;
	cleanup_free char *persist = NULL, *rootfs = NULL, *bundle = NULL;
	cleanup_free char *state = NULL, *upper = NULL, *cfgpath = NULL;
	cleanup_free char *id =
		atomfs_asprintf("atomfs-build-%ld-%s", (long)getpid(), s->name);
	struct atomfs_mount_opts mo = { .writable = true };
	bool had[ARRAY_SIZE(made_points)];
	bool mounted = false;
	size_t i;
	int err, status = 0;

	*desc = NULL;
	if (geteuid())
		return atomfs_err(
			EPERM,
			"%s:%d: stanza \"%s\" has run steps, which need root (to mount the image and start the container)",
			r->path, s->line, s->name);
	for (i = 0; i < s->nimports; i++)
		if (!s->imports[i].path)
			return atomfs_err(
				EINVAL,
				"%s:%d: stanza \"%s\": import %s was not fetched",
				r->path, s->imports[i].line, s->name,
				s->imports[i].url);
	err = mkdir_p(builddir, 0755);
	if (err)
		return atomfs_err(err, "cannot create build directory %s: %s",
				  builddir, strerror(-err));
	err = check_upper_fs(builddir);
	if (err)
		return err;
	runs = atomfs_join(builddir, "run");
	top = runs ? atomfs_join(runs, s->name) : NULL;
	if (top) {
		oci = atomfs_join(top, "oci");
		persist = atomfs_join(top, "persist");
		rootfs = atomfs_join(top, "rootfs");
		bundle = atomfs_join(top, "bundle");
		state = atomfs_join(top, "state");
	}
	if (persist)
		upper = atomfs_join(persist, "upper");
	if (bundle)
		cfgpath = atomfs_join(bundle, "config.json");
	if (oci)
		ref = atomfs_asprintf("%s:run", oci);
	if (!id || !oci || !rootfs || !state || !upper || !cfgpath || !ref)
		return run_oom(s);
	if (rm_tree(top))
		return atomfs_err(
			EBUSY,
			"cannot clear %s left by an earlier build (is something still mounted there?)",
			top);
	err = mkdir_p(rootfs, 0755);
	if (!err)
		err = mkdir_p(bundle, 0700);
	if (!err)
		err = mkdir_p(state, 0700);
	if (!err)
		err = mkdir_p(persist, 0700);
	if (err) {
		err = atomfs_err(err, "cannot create %s: %s", top,
				 strerror(-err));
		goto out;
	}
	err = stage_image(dst, layers, config, oci);
	if (err)
		goto out;
	mo.persist = persist;
	err = atomfs_mount(ref, rootfs, &mo);
	if (err) {
		atomfs_err_prefix("stanza %s: mounting its image writable",
				  s->name);
		goto out;
	}
	mounted = true;
	for (i = 0; i < ARRAY_SIZE(made_points); i++) {
		cleanup_free char *p = atomfs_join(rootfs, made_points[i]);
		struct stat st;

		if (!p) {
			err = run_oom(s);
			goto out;
		}
		had[i] = lstat(p, &st) == 0;
	}
	for (i = 0; i < s->run.n; i++) {
		json_t *c = runtime_config(s, o, config, rootfs, s->run.v[i].s);
		char *txt = c ? json_dumps(c, JSON_INDENT(1) | JSON_SORT_KEYS) :
				NULL;
		char buf[128];

		json_decref(c);
		err = txt ? write_file_atomic(cfgpath, txt, strlen(txt)) :
			    run_oom(s);
		free(txt);
		if (!err)
			err = run_step(s->name, o, state, bundle, id, &status);
		if (err)
			goto out;
		if (status) {
			recipe_step_status = status;
			err = atomfs_err(
				ECANCELED,
				"%s:%d: stanza \"%s\": step %zu failed with exit status %d: %s",
				r->path, s->run.v[i].line, s->name, i + 1,
				status,
				first_line(s->run.v[i].s, buf, sizeof(buf)));
			goto out;
		}
	}
	mounted = false;
	err = atomfs_umount(rootfs);
	if (err) {
		atomfs_err_prefix("stanza %s: unmounting %s", s->name, rootfs);
		goto out;
	}
	{
		cleanup_free char *lower = atomfs_join(top, "lower");

		err = lower ? mkdir_p(lower, 0755) : run_oom(s);
		if (!err)
			err = prune_unchanged(ref, upper, lower);
		if (err) {
			atomfs_err_prefix(
				"stanza %s: comparing its changes with its image",
				s->name);
			goto out;
		}
	}
	/* the runtime's mount points are not the steps' work */
	for (i = 0; i < ARRAY_SIZE(made_points); i++) {
		cleanup_free char *p = atomfs_join(upper, made_points[i]);

		if (!p) {
			err = run_oom(s);
			goto out;
		}
		if (!had[i])
			rm_tree(p);
	}
	{
		struct layer_opts ulo = *lo;
		DIR *d = opendir(upper);
		struct dirent *de;
		bool empty = true;

		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		if (d)
			closedir(d);
		if (empty)
			goto out; /* the steps changed nothing: no layer */
		ulo.in.overlay_upper = true;
		err = new_layer(dst, upper, &ulo, desc);
		if (!err)
			atomfs_desc_set_annotation(
				*desc, ANN_SRC_INPUT,
				xasprintf_tmp("run steps of %s", s->name));
	}
out:
	if (mounted) {
		/* keep the first error's message */
		char msg[2048];

		snprintf(msg, sizeof(msg), "%s", atomfs_last_error());
		if (atomfs_umount(rootfs) && !atomfs_quiet)
			fprintf(stderr, "atomfs: warning: %s\n",
				atomfs_last_error());
		atomfs_err(err, "%s", msg);
	}
	rm_tree(top);
	rmdir(runs);
	return err;
}
