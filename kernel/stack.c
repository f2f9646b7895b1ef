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
	atomfs_stack_proc_remove(stack);
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

static bool atomfs_has_digest(const struct atomfs_layer *desc)
{
	return desc->digest.algo != ATOMFS_DIGEST_NONE;
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
		return 0;
	default:
		/* ATOMFS_DIGEST_SHA512 is reserved for later. */
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
	err = atomfs_check_digest(&desc->digest);
	if (err)
		return err;
	if ((desc->flags & ATOMFS_LAYER_FILE) &&
	    ((desc->flags & ATOMFS_LAYER_DIR) || desc->fd == ATOMFS_NO_FD))
		return -EINVAL;
	if ((desc->flags & ATOMFS_LAYER_DIR) &&
	    (desc->size || atomfs_has_digest(desc) ||
	     (desc->flags & ATOMFS_LAYER_REHASH)))
		return -EINVAL; /* a directory has no blob to hash */
	if ((desc->flags & ATOMFS_LAYER_REHASH) && !atomfs_has_digest(desc))
		return -EINVAL;
	if (desc->fd == ATOMFS_NO_FD && !atomfs_has_digest(desc))
		return -EBADF; /* reuse by digest needs a digest */
	if (!atomfs_has_digest(desc) && atomfs_require_verified)
		return -EPERM;
	return 0;
}

/*
 * Is every layer of @stack verified now? A held layer marked bad after the
 * stack was made has lost ATOMFS_INFO_VERIFIED (atomfs_held_mark_bad()).
 */
bool atomfs_stack_verified(const struct atomfs_stack *stack)
{
	unsigned int i;

	for (i = 0; i < stack->nr_layers; i++) {
		if (!(READ_ONCE(stack->layers[i]->flags) & ATOMFS_INFO_VERIFIED))
			return false;
	}
	return true;
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
	if (args->nr_layers > min(READ_ONCE(atomfs_max_layers),
				  ATOMFS_MAX_LAYERS_LIMIT))
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
		stack->nosuid |= layer->nosuid;
		stack->nodev |= layer->nodev;
	}
	if (stack->stack_depth + 1 > FILESYSTEM_MAX_STACK_DEPTH)
		return -EINVAL;
	return 0;
}

/* One layer with a digest being set up. */
struct atomfs_setup {
	struct file *file;		/* the caller's device; NULL: reuse */
	bool is_file;			/* @file is a blob file, write-denied */
	struct atomfs_blob *blob;	/* its device, until mounted */
	u64 diskseq;			/* of the device hashed, before hashing */
	struct atomfs_lower *lower;	/* referenced until in the stack */
	int how;			/* ATOMFS_HELD_* */
	bool queued;			/* job is on the workqueue */
	bool reuse;			/* a held layer, hashed again */
	struct atomfs_verify_job job;
};

/* An unverified file layer: give it a device and mount it now. */
static int atomfs_layer_prepare_blob(struct atomfs_stack *stack,
				     unsigned int i, struct file *file)
{
	struct atomfs_lower *lower;
	struct atomfs_blob *blob;
	int err;

	lower = atomfs_lower_alloc();
	if (!lower) {
		atomfs_layer_put_file(file);
		return -ENOMEM;
	}
	blob = atomfs_blob_create(file);
	if (IS_ERR(blob)) {
		kfree(lower);
		return PTR_ERR(blob);
	}
	err = atomfs_layer_mount_blob(lower, blob);
	if (err)
		atomfs_layers_release(&lower, 1);
	else
		stack->layers[i] = lower;
	return err;
}

/*
 * Check one descriptor; open it at once unless it carries a digest, in
 * which case only take its device (atomfs_stack_verify() does the rest).
 */
static int atomfs_layer_prepare(struct atomfs_stack *stack, unsigned int i,
				const struct atomfs_layer *desc,
				struct atomfs_setup *s)
{
	struct atomfs_lower *lower;
	struct file *file = NULL;
	int err;

	err = atomfs_check_layer_desc(desc);
	if (err)
		return err;
	if (desc->flags & ATOMFS_LAYER_DIR) {
		lower = atomfs_layer_open_dir(desc);
		if (IS_ERR(lower))
			return PTR_ERR(lower);
		stack->layers[i] = lower;
		return 0;
	}
	if (desc->flags & ATOMFS_LAYER_FILE) {
		file = atomfs_layer_open_file(desc);
		if (IS_ERR(file))
			return PTR_ERR(file);
		s->is_file = true;
	} else if (desc->fd != ATOMFS_NO_FD) {
		file = atomfs_layer_get_bdev(desc, &s->diskseq);
		if (IS_ERR(file))
			return PTR_ERR(file);
	}
	if (atomfs_has_digest(desc)) {
		s->file = file;
		return 0;
	}

	if (s->is_file)
		return atomfs_layer_prepare_blob(stack, i, file);

	/* An unverified block device (require_verified is off). */
	err = -ENOMEM;
	lower = atomfs_lower_alloc();
	if (lower) {
		err = atomfs_layer_mount_bdev(lower, file, s->diskseq);
		if (err)
			kfree(lower);
		else
			stack->layers[i] = lower;
	}
	fput(file);
	return err;
}

static void atomfs_report_mismatch(struct atomfs_stack *stack, unsigned int i,
				   const struct atomfs_verify_job *job)
{
	const char *label = stack->label ?: "";

	pr_warn_ratelimited("stack \"%*pE\": layer %u does not match its digest: expected sha256:%*phN, read sha256:%*phN\n",
			    (int)strlen(label), label, i, 32, job->expect->bytes,
			    32, job->actual);
}

/*
 * May the held layer @s->lower serve descriptor @desc as it is? A layer on
 * a loop device, or a file layer whose write denial does not pin its bytes
 * (9p, NFS, FUSE, ...), is never taken on the strength of its digest
 * alone: every reuse hashes it again (see "Shared layers" in atomfs.rst).
 */
static int atomfs_held_check(const struct atomfs_layer *desc,
			     struct atomfs_setup *s, bool *rehash)
{
	struct atomfs_lower *lower = s->lower;

	/* ATOMFS_NO_FD: a size is the caller's claim, never ignored. */
	if (desc->fd == ATOMFS_NO_FD && desc->size && desc->size != lower->size)
		return -EMSGSIZE;
	*rehash = (desc->flags & ATOMFS_LAYER_REHASH) || lower->rehash;
	s->reuse = !(desc->flags & ATOMFS_LAYER_REHASH);
	return 0;
}

/*
 * Verify the layers that carry a digest, or find them held. Rounds: claim
 * or find every layer still missing, hash what we own in parallel, mount
 * it and publish it; only then wait for layers that other callers are
 * setting up (waiting earlier could deadlock two callers who each own what
 * the other waits for). A layer whose other owner failed is tried again
 * with our own device in the next round.
 */
static int atomfs_stack_verify(struct atomfs_stack *stack,
			       const struct atomfs_layer *descs,
			       struct atomfs_setup *setup, u32 *failed_layer)
{
	struct atomfs_verify v;
	bool started = false, again, rehash;
	struct block_device *bdev;
	struct atomfs_setup *s;
	unsigned int i;
	int ret, err = 0;

	do {
		again = false;
		for (i = 0; i < stack->nr_layers; i++) {
			s = &setup[i];
			if (stack->layers[i] || s->lower ||
			    !atomfs_has_digest(&descs[i]))
				continue;
			ret = atomfs_held_get(&descs[i].digest, s->file != NULL,
					      &s->lower);
			if (ret < 0) {
				*failed_layer = i;
				err = ret;
				goto out;
			}
			s->how = ret;
			if (ret == ATOMFS_HELD_WAIT)
				continue;
			if (ret == ATOMFS_HELD_READY) {
				err = atomfs_held_check(&descs[i], s, &rehash);
				if (err) {
					*failed_layer = i;
					goto out;
				}
			}
			if (ret == ATOMFS_HELD_READY && !rehash) {
				stack->layers[i] = s->lower;
				s->lower = NULL;
				atomic64_inc(&atomfs_stats.layers_reused);
				continue;
			}
			if (!started) {
				err = atomfs_verify_start(&v);
				if (err)
					goto out;
				started = true;
			}
			if (ret == ATOMFS_HELD_OWNED && s->is_file) {
				/* The device takes the file over. */
				s->blob = atomfs_blob_create(s->file);
				s->file = NULL;
				if (IS_ERR(s->blob)) {
					err = PTR_ERR(s->blob);
					s->blob = NULL;
					*failed_layer = i;
					goto out;
				}
				s->job.bdev = atomfs_blob_bdev(s->blob);
				s->job.size = descs[i].size;
			} else if (ret == ATOMFS_HELD_OWNED) {
				s->job.bdev = atomfs_file_bdev(s->file);
				s->job.size = descs[i].size;
			} else { /* a held layer, hashed again */
				bdev = s->lower->mnt->mnt_sb->s_bdev;
				s->diskseq = READ_ONCE(bdev->bd_disk->diskseq);
				s->job.bdev = bdev;
				s->job.size = s->lower->size;
			}
			s->job.expect = &descs[i].digest;
			s->queued = true;
			atomfs_verify_queue(&v, &s->job);
		}

		if (started) {
			err = atomfs_verify_wait(&v);
			if (err)
				goto out;
		}

		/* Every hash must match before anything is mounted. */
		for (i = 0; i < stack->nr_layers; i++) {
			s = &setup[i];
			if (!s->queued)
				continue;
			if (!s->job.err && s->how == ATOMFS_HELD_READY &&
			    (s->diskseq != s->lower->diskseq ||
			     READ_ONCE(s->job.bdev->bd_disk->diskseq) !=
			     s->diskseq)) {
				/* Its loop device was set up again since. */
				pr_warn_ratelimited("layer %u: %pg changed since it was verified: refused\n",
						    i, s->job.bdev);
				s->job.err = -EBADMSG;
			} else if (s->job.err == -EBADMSG) {
				atomfs_report_mismatch(stack, i, &s->job);
			}
			if (!s->job.err)
				continue;
			err = s->job.err;
			if (err == -EBADMSG && s->how == ATOMFS_HELD_READY)
				atomfs_held_mark_bad(s->lower);
			*failed_layer = i;
			goto out;
		}

		for (i = 0; i < stack->nr_layers; i++) {
			s = &setup[i];
			if (!s->queued)
				continue;
			s->queued = false;
			if (s->how == ATOMFS_HELD_OWNED && s->blob) {
				err = atomfs_layer_mount_blob(s->lower,
							      s->blob);
				s->blob = NULL;
			} else if (s->how == ATOMFS_HELD_OWNED) {
				err = atomfs_layer_mount_bdev(s->lower, s->file,
							      s->diskseq);
			}
			if (err) {
				*failed_layer = i;
				goto out;
			}
			if (s->how == ATOMFS_HELD_OWNED) {
				s->lower->size = descs[i].size;
				s->lower->flags |= ATOMFS_INFO_VERIFIED;
				atomfs_held_done(s->lower, 0);
			}
			if (s->reuse)
				atomic64_inc(&atomfs_stats.layers_reused);
			else
				atomic64_inc(&atomfs_stats.layers_verified);
			stack->layers[i] = s->lower;
			s->lower = NULL;
		}

		for (i = 0; i < stack->nr_layers; i++) {
			s = &setup[i];
			if (!s->lower || s->how != ATOMFS_HELD_WAIT)
				continue;
			atomic64_inc(&atomfs_stats.held_waits);
			if (wait_for_completion_killable(&s->lower->ready)) {
				err = -EINTR;
				goto out;
			}
			/*
			 * Ready or failed, claim it again: a ready layer is
			 * then checked like any held one (hashed again if on
			 * a loop device or an unpinned file), a failed one
			 * tried with our device.
			 */
			atomfs_layers_release(&s->lower, 1);
			s->lower = NULL;
			again = true;
		}
	} while (again);
out:
	if (started) {
		/* A failure while claiming may leave jobs queued: wait for them. */
		atomfs_verify_wait(&v);
		atomfs_verify_end(&v);
	}
	return err;
}

/*
 * The last check before a create-stack succeeds: every layer given with a
 * digest must still be verified. Another caller's hash of a shared layer
 * may have found it changed (atomfs_held_mark_bad()) after ours matched;
 * a layer is never verified again once marked bad, so this read decides.
 * See "Concurrent re-hashes" in atomfs.rst.
 */
static int atomfs_stack_check_verified(struct atomfs_stack *stack,
				       const struct atomfs_layer *descs,
				       u32 *failed_layer)
{
	unsigned int i;

	for (i = 0; i < stack->nr_layers; i++) {
		if (!atomfs_has_digest(&descs[i]) ||
		    (READ_ONCE(stack->layers[i]->flags) & ATOMFS_INFO_VERIFIED))
			continue;
		pr_warn_ratelimited("layer %u was found changed by another stack's hash: refused\n",
				    i);
		*failed_layer = i;
		return -EBADMSG;
	}
	return 0;
}

/* Release what set-up still holds; publish the failure of what we own. */
static void atomfs_setup_cleanup(struct atomfs_setup *setup, unsigned int nr,
				 int err)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct atomfs_setup *s = &setup[i];

		if (s->lower) {
			if (s->how == ATOMFS_HELD_OWNED)
				atomfs_held_done(s->lower, err ?: -EINVAL);
			atomfs_layers_release(&s->lower, 1);
		}
		if (s->blob)
			atomfs_blob_put(s->blob);
		if (s->file && s->is_file)
			atomfs_layer_put_file(s->file);
		else if (s->file)
			fput(s->file);
	}
	kvfree(setup);
}

static struct atomfs_stack *
atomfs_stack_build(const struct atomfs_create_stack *args,
		   const struct atomfs_layer *descs, u32 *failed_layer)
{
	struct atomfs_setup *setup = NULL;
	struct atomfs_stack *stack;
	unsigned int i, nr = args->nr_layers;
	int err = -ENOMEM;

	stack = kvzalloc(struct_size(stack, layers, nr), GFP_KERNEL_ACCOUNT);
	if (!stack || atomfs_should_fail())
		goto out;
	refcount_set(&stack->ref, 1);
	stack->nr_layers = nr;
	stack->whiteout = args->whiteout ?: ATOMFS_WHITEOUT_BOTH;
	stack->ino_base = kvcalloc(nr, sizeof(*stack->ino_base),
				   GFP_KERNEL_ACCOUNT);
	setup = kvcalloc(nr, sizeof(*setup), GFP_KERNEL);
	if (!stack->ino_base || !setup)
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

	for (i = 0; i < nr; i++) {
		err = atomfs_layer_prepare(stack, i, &descs[i], &setup[i]);
		if (err) {
			*failed_layer = i;
			goto out;
		}
		err = -EINTR;
		if (fatal_signal_pending(current))
			goto out;
		cond_resched();
	}

	err = atomfs_stack_verify(stack, descs, setup, failed_layer);
	if (err)
		goto out;
	err = atomfs_stack_layout(stack);
	if (err)
		goto out;
	err = atomfs_stack_check_verified(stack, descs, failed_layer);
	if (err)
		goto out;
	stack->id = atomic64_inc_return(&atomfs_next_stack_id);
	err = atomfs_stack_proc_add(stack);
	if (err)
		goto out;
	atomfs_setup_cleanup(setup, nr, 0);
	return stack;

out:
	if (setup)
		atomfs_setup_cleanup(setup, nr, err);
	if (stack)
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
