// SPDX-License-Identifier: LGPL-2.1-or-later
/* mount_status.c: `atomfs status` and `atomfs umount` */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/atomfs.h>

#include "internal.h"
#include "mount-int.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

int atomfs_umount(const char *target)
{
	cleanup_free char *rec = atomfs_mount_record_path(target);

	if (umount2(target, 0))
		return atomfs_err(-errno, "%s: cannot unmount: %s", target,
				  strerror(errno));
	if (rec)
		unlink(rec);
	return 0;
}

struct status_layer {
	unsigned int index;
	char digest[80];
	bool verified, shared;
	unsigned long long size;
};

/* /proc/fs/atomfs/<id>/layers, for writable mounts. */
static int status_from_proc(uint64_t id, char **label,
			    struct status_layer **layers, size_t *n)
{
	cleanup_free char *path = atomfs_asprintf("/proc/fs/atomfs/%llu/layers",
						  (unsigned long long)id);
	char line[512], ver[16], sh[16];
	FILE *f = path ? fopen(path, "re") : NULL;
	struct status_layer sl, *more;
	int err = 0;

	if (!path)
		return atomfs_enomem();
	if (!f)
		return atomfs_err(-errno, "%s: %s (is the mount still there?)",
				  path, strerror(errno));
	*n = 0;
	*layers = NULL;
	while (!err && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "label ", 6)) {
			line[strcspn(line, "\n")] = 0;
			free(*label);
			*label = strdup(line + 6);
			if (!*label)
				err = atomfs_enomem();
		} else if (sscanf(line, "%u %79s %15s %15s %llu", &sl.index,
				  sl.digest, ver, sh, &sl.size) == 5) {
			sl.verified = !strcmp(ver, "verified");
			sl.shared = !strcmp(sh, "shared");
			more = realloc(*layers, (*n + 1) * sizeof(sl));
			if (!more) {
				err = atomfs_enomem();
				break;
			}
			*layers = more;
			(*layers)[(*n)++] = sl;
		}
	}
	fclose(f);
	return err;
}

/* ATOMFS_IOC_GET_INFO, count then fill. */
static int status_from_ioctl(int fd, uint64_t *id, char **label,
			     struct status_layer **layers, size_t *n)
{
	struct atomfs_info info = { 0 };
	struct atomfs_layer_info *li;
	unsigned char *b;
	size_t i, j;

	if (ioctl(fd, ATOMFS_IOC_GET_INFO, &info) && errno != E2BIG)
		return atomfs_err(-errno, "ATOMFS_IOC_GET_INFO: %s",
				  strerror(errno));
	li = calloc(info.nr_layers + 1, sizeof(*li));
	*label = calloc(1, info.label_size + 1);
	if (!li || !*label) {
		free(li);
		return atomfs_enomem();
	}
	info.layers = (uintptr_t)li;
	info.label = (uintptr_t)*label;
	if (ioctl(fd, ATOMFS_IOC_GET_INFO, &info)) {
		free(li);
		return atomfs_err(-errno, "ATOMFS_IOC_GET_INFO: %s",
				  strerror(errno));
	}
	*id = info.id;
	*n = info.nr_layers;
	*layers = calloc(*n + 1, sizeof(**layers));
	if (!*layers) {
		free(li);
		return atomfs_enomem();
	}
	for (i = 0; i < *n; i++) {
		struct status_layer *sl = &(*layers)[i];

		sl->index = li[i].index;
		sl->verified = li[i].flags & ATOMFS_INFO_VERIFIED;
		sl->shared = li[i].flags & ATOMFS_INFO_SHARED;
		sl->size = li[i].size;
		if (li[i].digest.algo == ATOMFS_DIGEST_SHA256) {
			b = (unsigned char *)li[i].digest.bytes;
			strcpy(sl->digest, "sha256:");
			for (j = 0; j < 32; j++)
				sprintf(sl->digest + 7 + 2 * j, "%02x", b[j]);
		} else {
			strcpy(sl->digest,
			       li[i].flags & ATOMFS_INFO_DIR ? "dir" : "none");
		}
	}
	free(li);
	return 0;
}

int atomfs_status(const char *target, json_t **out)
{
	cleanup_free struct status_layer *layers = NULL;
	cleanup_free char *label = NULL, *rec = NULL, *data = NULL;
	const char *kind = "read-only";
	uint64_t id = 0;
	struct statfs sfs;
	size_t n = 0, i;
	json_t *root, *arr, *rj;
	int fd, err;

	fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstatfs(fd, &sfs)) {
		err = atomfs_err(-errno, "%s: %s", target, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (sfs.f_type == ATOMFS_SUPER_MAGIC) {
		err = status_from_ioctl(fd, &id, &label, &layers, &n);
	} else if (sfs.f_type == OVERLAYFS_SUPER_MAGIC &&
		   (rec = atomfs_mount_record_path(target)) &&
		   !atomfs_read_at(AT_FDCWD, rec, rec, 65536, &data, NULL)) {
		json_error_t jerr;

		rj = json_loads(data, JSON_REJECT_DUPLICATES, &jerr);
		if (!rj && json_error_code(&jerr) == json_error_out_of_memory) {
			close(fd);
			return atomfs_enomem();
		}
		id = (uint64_t)json_integer_value(
			json_object_get(rj, "stack_id"));
		if (!json_is_integer(json_object_get(rj, "stack_id")) || !id) {
			json_decref(rj);
			close(fd);
			return atomfs_err(
				-EBADMSG,
				"%s: its status record %s is malformed; unmount and mount it again",
				target, rec);
		}
		kind = json_is_true(json_object_get(rj, "persist")) ?
			       "writable, persistent" :
			       "writable";
		json_decref(rj);
		err = status_from_proc(id, &label, &layers, &n);
	} else {
		err = atomfs_err(-EINVAL, "%s: not an atomfs mount", target);
	}
	close(fd);
	if (err)
		return err;

	root = json_pack("{s:s, s:s, s:I, s:s}", "target", target, "mode", kind,
			 "stack_id", (json_int_t)id, "label",
			 label ? label : "");
	arr = json_array();
	for (i = 0; root && arr && i < n; i++)
		json_array_append_new(
			arr,
			json_pack("{s:i, s:s, s:b, s:b, s:I}", "index",
				  layers[i].index, "digest", layers[i].digest,
				  "verified", layers[i].verified, "shared",
				  layers[i].shared, "size",
				  (json_int_t)layers[i].size));
	if (!root || !arr || json_object_set_new(root, "layers", arr)) {
		json_decref(root);
		return atomfs_err(-ENOMEM, "out of memory");
	}
	*out = root;
	return 0;
}
