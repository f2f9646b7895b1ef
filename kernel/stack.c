// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: stacks. ATOMFS_IOC_CREATE_STACK turns the caller's list of layers
 * into a struct atomfs_stack behind a new file descriptor, which mount takes
 * as "stack=FD".
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "atomfs.h"

static atomic64_t atomfs_next_stack_id = ATOMIC64_INIT(0);

static void atomfs_stack_free(struct atomfs_stack *stack)
{
	atomfs_layers_release(stack->layers, stack->nr_layers);
	kvfree(stack->ino_base);
	kfree(stack->label);
	kvfree(stack);
}

void atomfs_stack_put(struct atomfs_stack *stack)
{
	if (stack && refcount_dec_and_test(&stack->ref))
		atomfs_stack_free(stack);
}

static int atomfs_stack_release(struct inode *inode, struct file *file)
{
	atomfs_stack_put(file->private_data);
	return 0;
}

static const struct file_operations atomfs_stack_fops = {
	.owner = THIS_MODULE,
	.release = atomfs_stack_release,
	.llseek = noop_llseek,
};

/* Take a reference on the stack behind @file, or fail if it is none. */
struct atomfs_stack *atomfs_stack_from_file(struct file *file)
{
	struct atomfs_stack *stack;

	if (file->f_op != &atomfs_stack_fops)
		return ERR_PTR(-EINVAL);
	stack = file->private_data;
	refcount_inc(&stack->ref);
	return stack;
}

static bool atomfs_is_zero(const void *p, size_t size)
{
	return !memchr_inv(p, 0, size);
}

static int atomfs_check_digest(const struct atomfs_digest *d)
{
	switch (d->algo) {
	case ATOMFS_DIGEST_NONE:
		return d->size || !atomfs_is_zero(d->bytes, sizeof(d->bytes)) ?
			       -EINVAL : 0;
	case ATOMFS_DIGEST_SHA256:
		if (d->size != 32 ||
		    !atomfs_is_zero((u8 *)d->bytes + 32, sizeof(d->bytes) - 32))
			return -EINVAL;
		/* Verification in the kernel is not implemented yet. */
		return -EOPNOTSUPP;
	default:
		return -EINVAL;
	}
}

static int atomfs_check_layer_desc(const struct atomfs_layer *desc)
{
	int err;

	if (desc->flags & ~ATOMFS_LAYER_ALL)
		return -EINVAL;
	if (!atomfs_is_zero(desc->reserved, sizeof(desc->reserved)))
		return -EINVAL;
	if (desc->flags & ATOMFS_LAYER_REHASH)
		return -EINVAL; /* only meaningful with a digest */
	err = atomfs_check_digest(&desc->digest);
	if (err)
		return err;
	if (desc->fd == ATOMFS_NO_FD)
		return -EBADF; /* reuse by digest needs a digest */
	if ((desc->flags & ATOMFS_LAYER_DIR) && desc->size)
		return -EINVAL;
	return 0;
}

static int atomfs_check_args(const struct atomfs_create_stack *args)
{
	if (args->flags & ~ATOMFS_STACK_ALL)
		return -EINVAL;
	if (args->whiteout & ~ATOMFS_WHITEOUT_BOTH)
		return -EINVAL;
	if (!atomfs_is_zero(args->reserved, sizeof(args->reserved)))
		return -EINVAL;
	if (!args->nr_layers)
		return -EINVAL;
	if (args->nr_layers > atomfs_max_layers)
		return -E2BIG;
	return 0;
}

/*
 * Give each layer its inode number offset (see "Inode numbers" in
 * atomfs.rst) and the stack its depth.
 */
static int atomfs_stack_layout(struct atomfs_stack *stack)
{
	u64 base = 0;
	unsigned int i;

	for (i = 0; i < stack->nr_layers; i++) {
		struct atomfs_lower *layer = stack->layers[i];
		struct super_block *sb = layer->mnt->mnt_sb;

		if (layer->flags & ATOMFS_INFO_DIR) {
			stack->ino_base[i] = (u64)(i + 1) << 48;
		} else {
			stack->ino_base[i] = base;
			base += layer->ino_count;
		}
		stack->stack_depth = max(stack->stack_depth, sb->s_stack_depth);
		if (sb->s_flags & SB_POSIXACL)
			stack->posix_acl = true;
	}
	if (stack->stack_depth + 1 > FILESYSTEM_MAX_STACK_DEPTH)
		return -EINVAL;
	return 0;
}

static struct atomfs_stack *
atomfs_stack_build(const struct atomfs_create_stack *args,
		   const struct atomfs_layer *descs, u32 *failed_layer)
{
	struct atomfs_stack *stack;
	unsigned int i;
	int err;

	stack = kvzalloc(struct_size(stack, layers, args->nr_layers),
			 GFP_KERNEL_ACCOUNT);
	if (!stack)
		return ERR_PTR(-ENOMEM);
	refcount_set(&stack->ref, 1);
	stack->whiteout = args->whiteout ?: ATOMFS_WHITEOUT_BOTH;
	stack->ino_base = kvcalloc(args->nr_layers, sizeof(*stack->ino_base),
				   GFP_KERNEL_ACCOUNT);
	err = -ENOMEM;
	if (!stack->ino_base)
		goto out;

	if (args->label) {
		stack->label = strndup_user(u64_to_user_ptr(args->label),
					    ATOMFS_LABEL_MAX);
		err = PTR_ERR(stack->label);
		if (IS_ERR(stack->label)) {
			stack->label = NULL;
			/* strndup_user: EINVAL means no NUL within the limit. */
			if (err == -EINVAL)
				err = -E2BIG;
			goto out;
		}
	}

	for (i = 0; i < args->nr_layers; i++) {
		struct atomfs_lower *layer;

		err = atomfs_check_layer_desc(&descs[i]);
		if (err)
			goto out_layer;
		layer = atomfs_layer_open(&descs[i]);
		err = PTR_ERR(layer);
		if (IS_ERR(layer))
			goto out_layer;
		stack->layers[i] = layer;
		stack->nr_layers = i + 1;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto out;
		}
		cond_resched();
	}

	err = atomfs_stack_layout(stack);
	if (err)
		goto out;
	stack->id = atomic64_inc_return(&atomfs_next_stack_id);
	return stack;

out_layer:
	*failed_layer = i;
out:
	atomfs_stack_free(stack);
	return ERR_PTR(err);
}

/*
 * Create a stack from @args and return a new O_CLOEXEC fd for it, or
 * -errno with *@failed_layer naming the layer at fault.
 */
int atomfs_stack_create(const struct atomfs_create_stack *args,
			u32 *failed_layer)
{
	struct atomfs_layer *descs;
	struct atomfs_stack *stack;
	int fd, err;

	*failed_layer = ATOMFS_NO_LAYER;
	err = atomfs_check_args(args);
	if (err)
		return err;

	descs = vmemdup_user(u64_to_user_ptr(args->layers),
			     array_size(args->nr_layers, sizeof(*descs)));
	if (IS_ERR(descs))
		return PTR_ERR(descs);

	stack = atomfs_stack_build(args, descs, failed_layer);
	kvfree(descs);
	if (IS_ERR(stack))
		return PTR_ERR(stack);

	fd = anon_inode_getfd("[atomfs-stack]", &atomfs_stack_fops, stack,
			      O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		atomfs_stack_put(stack);
	return fd;
}
