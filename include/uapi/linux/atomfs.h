/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * atomfs: a read-only stacking filesystem for OCI images whose layers are
 * squashfs blobs. The layer list reaches the kernel through ioctls on the
 * control device /dev/atomfs, never through a mount-option string.
 *
 * Rules of this ABI (Documentation/filesystems/atomfs.rst has the prose):
 *  - only __u32 and __u64 fields, naturally aligned, no implicit padding;
 *  - user pointers are passed as __u64;
 *  - every flags word has an _ALL mask; unknown bits give EINVAL;
 *  - every reserved field must be zero (EINVAL otherwise); a later version
 *    may give it a meaning that is off when it is zero;
 *  - the sizes of the structs are pinned by BUILD_BUG_ON in the module and by
 *    a userspace ABI test.
 */
#ifndef _UAPI_LINUX_ATOMFS_H
#define _UAPI_LINUX_ATOMFS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define ATOMFS_CTL_DEVICE "/dev/atomfs"
#define ATOMFS_SUPER_MAGIC 0x61746f6d /* "atom" */

/* Digest algorithms of struct atomfs_digest. */
#define ATOMFS_DIGEST_NONE 0 /* no digest: the layer is not verified */
#define ATOMFS_DIGEST_SHA256 1
#define ATOMFS_DIGEST_SHA512 2 /* reserved; refused with EINVAL for now */
#define ATOMFS_DIGEST_MAX_SIZE 64

/*
 * A digest: @algo, the number of bytes in @size (32 for sha256), and the
 * raw digest bytes in order in @bytes (64 bytes, declared as __u64 words to
 * keep the ABI free of byte fields; unused bytes must be zero).
 */
struct atomfs_digest {
	__u32 algo;
	__u32 size;
	__u64 bytes[ATOMFS_DIGEST_MAX_SIZE / 8];
};

/* Whiteout styles of a stack (struct atomfs_create_stack.whiteout). */
#define ATOMFS_WHITEOUT_OVERLAY (1U << 0) /* char 0/0, overlay.opaque xattr */
#define ATOMFS_WHITEOUT_OCI (1U << 1) /* .wh.NAME, .wh..wh..opq */
#define ATOMFS_WHITEOUT_BOTH (ATOMFS_WHITEOUT_OVERLAY | ATOMFS_WHITEOUT_OCI)

/* The layer has no file descriptor: reuse a held layer by digest. */
#define ATOMFS_NO_FD 0xffffffffU

/* Layer flags (struct atomfs_layer.flags). */
#define ATOMFS_LAYER_DIR (1U << 0) /* fd is a directory, not a block device */
#define ATOMFS_LAYER_REHASH (1U << 1) /* hash a held layer again */
#define ATOMFS_LAYER_FILE (1U << 2) /* fd is the blob file, read-only */
#define ATOMFS_LAYER_ALL \
	(ATOMFS_LAYER_DIR | ATOMFS_LAYER_REHASH | ATOMFS_LAYER_FILE)

/*
 * One layer of a stack, in image order (base layer first, as in an OCI
 * manifest).
 * @fd:      a read-only block device holding a squashfs image, or with
 *           ATOMFS_LAYER_FILE the regular file holding it (opened read-only;
 *           nobody may write it while the module holds the layer), or with
 *           ATOMFS_LAYER_DIR a directory (O_PATH is fine), or ATOMFS_NO_FD
 *           to reuse a layer the module already holds for @digest;
 * @flags:   ATOMFS_LAYER_*;
 * @size:    size of the layer blob in bytes; the block device must be
 *           exactly this big, the file too (0 for directory layers);
 * @digest:  expected digest of the whole blob, or algo ATOMFS_DIGEST_NONE;
 * @reserved: must be zero.
 */
struct atomfs_layer {
	__u32 fd;
	__u32 flags;
	__u64 size;
	struct atomfs_digest digest;
	__u64 reserved[4];
};

/* Stack flags (struct atomfs_create_stack.flags). None are defined yet. */
#define ATOMFS_STACK_ALL 0U

#define ATOMFS_LABEL_MAX 256 /* including the terminating NUL */
#define ATOMFS_NO_LAYER 0xffffffffU

/*
 * ATOMFS_IOC_CREATE_STACK: prepare a stack of layers. On success the ioctl
 * returns a new O_CLOEXEC file descriptor that stands for the stack; pass it
 * to mount as "stack=FD" (or FSCONFIG_SET_FD "stack").
 * @flags:        ATOMFS_STACK_*;
 * @whiteout:     ATOMFS_WHITEOUT_* (0 means both);
 * @nr_layers:    number of entries at @layers, 1..max_layers;
 * @failed_layer: out: on failure, the index of the layer at fault, or
 *                ATOMFS_NO_LAYER when the failure is not tied to one layer;
 * @layers:       user pointer to struct atomfs_layer[@nr_layers];
 * @label:        user pointer to a NUL-terminated string of at most
 *                ATOMFS_LABEL_MAX bytes (for audit, e.g. REF@sha256:...),
 *                or 0 for none;
 * @reserved:     must be zero.
 */
struct atomfs_create_stack {
	__u32 flags;
	__u32 whiteout;
	__u32 nr_layers;
	__u32 failed_layer;
	__u64 layers;
	__u64 label;
	__u64 reserved[4];
};

/* Query flags (struct atomfs_query_layer.flags, output). */
#define ATOMFS_QUERY_HELD (1U << 0) /* the module holds a verified layer */
#define ATOMFS_QUERY_ALL ATOMFS_QUERY_HELD

/*
 * ATOMFS_IOC_QUERY_LAYER: does the module hold a verified layer with this
 * digest? @flags and @size are outputs.
 */
struct atomfs_query_layer {
	struct atomfs_digest digest;
	__u32 flags;
	__u32 reserved32;
	__u64 size;
	__u64 reserved[4];
};

/* Per-layer information flags (struct atomfs_layer_info.flags). */
#define ATOMFS_INFO_VERIFIED (1U << 0) /* digest checked by the kernel */
#define ATOMFS_INFO_SHARED (1U << 1) /* the layer serves other stacks too */
#define ATOMFS_INFO_DIR (1U << 2) /* a directory layer */
#define ATOMFS_INFO_ALL \
	(ATOMFS_INFO_VERIFIED | ATOMFS_INFO_SHARED | ATOMFS_INFO_DIR)

struct atomfs_layer_info {
	__u32 index;
	__u32 flags;
	__u64 size;
	struct atomfs_digest digest;
	__u64 reserved[2];
};

/*
 * ATOMFS_IOC_GET_INFO, on any file inside a mounted atomfs: describe the
 * stack. Count-then-fill: the kernel writes the real @nr_layers and
 * @label_size (including the NUL), and fills @layers and @label only when
 * the capacities given in @nr_layers and @label_size are large enough
 * (E2BIG otherwise, with the real sizes written back).
 * @id:        the stack's id, as in mountinfo and /proc/fs/atomfs/<id>/.
 */
struct atomfs_info {
	__u32 flags;
	__u32 whiteout;
	__u32 nr_layers;
	__u32 label_size;
	__u64 layers;
	__u64 label;
	__u64 id;
	__u64 reserved[3];
};

#define ATOMFS_IOC_MAGIC 0xA7
#define ATOMFS_IOC_CREATE_STACK _IOWR(ATOMFS_IOC_MAGIC, 1, struct atomfs_create_stack)
#define ATOMFS_IOC_QUERY_LAYER _IOWR(ATOMFS_IOC_MAGIC, 2, struct atomfs_query_layer)
#define ATOMFS_IOC_GET_INFO _IOWR(ATOMFS_IOC_MAGIC, 3, struct atomfs_info)

#endif /* _UAPI_LINUX_ATOMFS_H */
