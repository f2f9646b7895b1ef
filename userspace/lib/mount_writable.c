// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mount_writable.c: an overlayfs with a tmpfs (or persist=DIR) upper on top
 * of the atomfs stack.  overlayfs on 6.1 takes its lower layer by path, so
 * the atomfs mount is staged under /run/atomfs: each writable mount makes
 * its own directory there, bind-mounts it on itself and makes that private
 * (nothing staged propagates), mounts atomfs and the tmpfs inside, mounts
 * overlayfs on the target, then detaches the whole staging tree (overlayfs
 * holds private clones of what it uses).  So nothing is left mounted under
 * /run/atomfs once a mount call returns; only the status record stays.
 */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/atomfs.h>

#include "internal.h"
#include "mount-int.h"

/* /run/atomfs/mounts/<hex of the target's real path>.json */
char *atomfs_mount_record_path(const char *target)
{
	char real[PATH_MAX];
	const char *t = realpath(target, real) ? real : target;
	char *p = calloc(1,
			 sizeof(ATOMFS_RUN_DIR "/mounts/") + 2 * strlen(t) + 8);
	size_t i, n;

	if (!p)
		return NULL;
	n = strlen(strcpy(p, ATOMFS_RUN_DIR "/mounts/"));
	for (i = 0; t[i]; i++)
		n += (size_t)sprintf(p + n, "%02x", (unsigned char)t[i]);
	strcpy(p + n, ".json");
	return p;
}

static uint64_t stack_id_of(const char *dir)
{
	struct atomfs_info info = { 0 };
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (ioctl(fd, ATOMFS_IOC_GET_INFO, &info) && errno != E2BIG)
		info.id = 0;
	close(fd);
	return info.id;
}

/* What `atomfs status` needs: overlayfs passes no atomfs ioctl through. */
static int write_record(const char *target, uint64_t id, bool persist)
{
	cleanup_free char *rec = atomfs_mount_record_path(target);
	cleanup_free char *s = NULL;
	char *slash = rec ? strrchr(rec, '/') : NULL;
	json_t *j;
	int dir, err;

	if (!rec)
		return atomfs_enomem();
	j = json_pack("{s:s, s:I, s:b}", "target", target, "stack_id",
		      (json_int_t)id, "persist", persist);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return atomfs_err(-ENOMEM, "out of memory");
	dir = open(ATOMFS_RUN_DIR "/mounts",
		   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return atomfs_err(-errno, "%s/mounts: %s", ATOMFS_RUN_DIR,
				  strerror(errno));
	err = atomfs_write_at_atomic(dir, slash + 1, s, strlen(s), -1);
	close(dir);
	if (err)
		return atomfs_err(err, "cannot write %s: %s", rec,
				  strerror(-err));
	return 0;
}

/*
 * persist=DIR: DIR, DIR/upper and DIR/work, walked one component at a time
 * with openat(O_NOFOLLOW | O_DIRECTORY) and created with mkdirat(), so
 * that no component is a symbolic link (a user's symlink would make root
 * create directories, and keep a container's writes, anywhere).  The
 * overlay is then given the directories by /proc/self/fd, so a component
 * swapped after the walk changes nothing.  Returns an fd or -errno.
 */
static int open_dir_nofollow(int at, const char *path, const char *shown)
{
	cleanup_free char *p = strdup(path);
	char *comp, *save = NULL;
	int fd, next, err;

	if (!p)
		return atomfs_enomem();
	fd = *path == '/'   ? open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
	     at == AT_FDCWD ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
			      fcntl(at, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return atomfs_err(-errno, "%s: %s", shown, strerror(errno));
	for (comp = strtok_r(p, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT &&
		    (!mkdirat(fd, comp, 0755) || errno == EEXIST))
			next = openat(fd, comp,
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);
		err = -errno;
		close(fd);
		if (next >= 0) {
			fd = next;
			continue;
		}
		if (err == -ELOOP || err == -ENOTDIR)
			return atomfs_err(
				-ELOOP,
				"persist=%s: '%s' is a symbolic link or not a directory; atomfs follows no symbolic link there (give the real path of a directory only root can write)",
				shown, comp);
		return atomfs_err(err, "persist=%s: cannot create '%s': %s",
				  shown, comp, strerror(-err));
	}
	return fd;
}

int atomfs_mount_writable(int stack, const char *ref, const char *target,
			  const struct atomfs_mount_opts *o,
			  unsigned long ms_flags)
{
	char stage[] = ATOMFS_RUN_DIR "/stage.XXXXXX";
	cleanup_free char *lower = NULL, *rw = NULL, *opt = NULL;
	cleanup_free char *up = NULL, *work = NULL, *ovl = NULL;
	bool island = false;
	uint64_t id;
	int persist = -1, upfd = -1, workfd = -1, err;

	err = mkdir_p(ATOMFS_RUN_DIR "/mounts", 0700);
	if (err)
		return atomfs_err(err, "%s: cannot create it: %s",
				  ATOMFS_RUN_DIR, strerror(-err));
	if (!mkdtemp(stage))
		return atomfs_err(-errno, "%s: %s", stage, strerror(errno));
	if (mount(stage, stage, NULL, MS_BIND, NULL) ||
	    (island = true, mount(NULL, stage, NULL, MS_PRIVATE, NULL))) {
		err = atomfs_err(-errno,
				 "%s: cannot make a private staging mount: %s",
				 stage, strerror(errno));
		goto out;
	}
	lower = atomfs_join(stage, "lower");
	rw = atomfs_join(stage, "rw");
	opt = atomfs_asprintf("stack=%d", stack);
	if (!lower || !rw || !opt) {
		err = atomfs_enomem();
		goto out;
	}
	if (mkdir(lower, 0700) ||
	    mount("none", lower, "atomfs", MS_RDONLY, opt)) {
		err = atomfs_err(-errno, "%s: mounting atomfs failed: %s", ref,
				 strerror(errno));
		goto out;
	}
	id = stack_id_of(lower);
	if (o->persist) {
		persist = open_dir_nofollow(AT_FDCWD, o->persist, o->persist);
		if (persist < 0) {
			err = persist;
			goto out;
		}
		upfd = open_dir_nofollow(persist, "upper", o->persist);
		workfd = upfd < 0 ?
				 upfd :
				 open_dir_nofollow(persist, "work", o->persist);
		if (workfd < 0) {
			err = workfd;
			goto out;
		}
		up = atomfs_asprintf("/proc/self/fd/%d", upfd);
		work = atomfs_asprintf("/proc/self/fd/%d", workfd);
	} else {
		if (mkdir(rw, 0755) ||
		    mount("tmpfs", rw, "tmpfs", 0, "mode=0755")) {
			err = atomfs_err(-errno,
					 "%s: mounting tmpfs failed: %s", rw,
					 strerror(errno));
			goto out;
		}
		up = atomfs_join(rw, "upper");
		work = atomfs_join(rw, "work");
	}
	if (!up || !work) {
		err = atomfs_enomem();
		goto out;
	}
	if (!o->persist &&
	    ((err = mkdir_p(up, 0755)) || (err = mkdir_p(work, 0755)))) {
		atomfs_err(
			err,
			"%s: cannot create the upper and work directories: %s",
			o->persist ? o->persist : rw, strerror(-err));
		goto out;
	}
	ovl = atomfs_asprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, up,
			      work);
	if (!ovl) {
		err = atomfs_enomem();
		goto out;
	}
	if (!o->fake &&
	    mount("overlay", target, "overlay", ms_flags & ~MS_RDONLY, ovl)) {
		err = atomfs_err(-errno,
				 "%s: mounting overlayfs on %s failed: %s", ref,
				 target, strerror(errno));
		goto out;
	}
	err = o->fake ? 0 : write_record(target, id, o->persist != NULL);
	if (err) {
		umount2(target, MNT_DETACH);
		goto out;
	}
out:
	if (workfd >= 0)
		close(workfd);
	if (upfd >= 0)
		close(upfd);
	if (persist >= 0)
		close(persist);
	if (island)
		umount2(stage, MNT_DETACH); /* the staging tree, all of it */
	if (rw)
		rmdir(rw);
	if (lower)
		rmdir(lower);
	rmdir(stage);
	return err;
}
