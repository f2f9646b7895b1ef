// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl ABI of include/uapi/linux/atomfs.h as userspace sees it: sizes
 * and offsets are pinned here and by BUILD_BUG_ON in the module, so a change
 * to either side that breaks the other fails a test.
 */
#include <stddef.h>

#include "../../include/uapi/linux/atomfs.h"
#include "tap.h"

#define SIZE(type, n) \
	is_int(sizeof(struct type), n, "sizeof(struct " #type ") is " #n)
#define OFF(type, field, n)                     \
	is_int(offsetof(struct type, field), n, \
	       "offsetof(" #type ", " #field ") is " #n)

int main(void)
{
	SIZE(atomfs_digest, 72);
	OFF(atomfs_digest, bytes, 8);

	SIZE(atomfs_layer, 120);
	OFF(atomfs_layer, flags, 4);
	OFF(atomfs_layer, size, 8);
	OFF(atomfs_layer, digest, 16);
	OFF(atomfs_layer, reserved, 88);

	SIZE(atomfs_create_stack, 64);
	OFF(atomfs_create_stack, failed_layer, 12);
	OFF(atomfs_create_stack, layers, 16);
	OFF(atomfs_create_stack, label, 24);
	OFF(atomfs_create_stack, reserved, 32);

	SIZE(atomfs_query_layer, 120);
	OFF(atomfs_query_layer, flags, 72);
	OFF(atomfs_query_layer, size, 80);

	SIZE(atomfs_layer_info, 104);
	OFF(atomfs_layer_info, digest, 16);

	SIZE(atomfs_info, 64);
	OFF(atomfs_info, layers, 16);
	OFF(atomfs_info, id, 32);

	ok((ATOMFS_LAYER_ALL & ATOMFS_LAYER_DIR) &&
		   (ATOMFS_LAYER_ALL & ATOMFS_LAYER_REHASH),
	   "ATOMFS_LAYER_ALL covers every layer flag");
	is_int(ATOMFS_WHITEOUT_BOTH,
	       ATOMFS_WHITEOUT_OVERLAY | ATOMFS_WHITEOUT_OCI,
	       "ATOMFS_WHITEOUT_BOTH is overlay | oci");
	is_int(_IOC_SIZE(ATOMFS_IOC_CREATE_STACK), 64,
	       "ATOMFS_IOC_CREATE_STACK encodes 64 bytes");
	is_int(_IOC_TYPE(ATOMFS_IOC_GET_INFO), 0xA7, "the ioctl magic is 0xA7");
	return tap_done();
}
