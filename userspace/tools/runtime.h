/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runtime.h: OCI runtime configs for crun or runc (runtime.c) */
#ifndef ATOMFS_RUNTIME_H
#define ATOMFS_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct runtime_spec {
	json_t *args; /* process.args (borrowed) */
	json_t *env; /* process.env (borrowed) */
	const char *cwd; /* "/" if NULL or relative */
	uint32_t uid, gid;
	const char *rootfs; /* root.path: absolute, or relative to the bundle */
	bool readonly; /* root.readonly */
	const char *hostname; /* "atomfs" if NULL */
	bool network_ns; /* a network namespace of its own */
	bool no_new_privs;
	json_t *mounts; /* more mounts after the standard ones (borrowed) */
};

/* config.json for @rs: the standard mounts, namespaces and capabilities */
json_t *runtime_spec_new(const struct runtime_spec *rs);
/* one entry of "mounts"; OPTS comma-separated */
json_t *runtime_mount(const char *dst, const char *type, const char *src,
		      const char *opts);
/* the image config's Env, with a default PATH if it has none (new ref) */
json_t *runtime_env(const json_t *image_config);
/* set K=V in ENV (an array of "K=V" strings), replacing K's value */
void runtime_env_put(json_t *env, const char *k, const char *v);
/*
 * An image config's User ("uid", "uid:gid", "name", "name:group") to ids;
 * names are looked up in ROOTFS's /etc/passwd and /etc/group (resolved
 * inside ROOTFS), and need it. 0 or -errno with a message.
 */
int runtime_user(const char *user, const char *rootfs, uint32_t *uid,
		 uint32_t *gid);

#endif
