// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: the table of verified layers, keyed by digest, so that every stack
 * using a layer shares one private mount (one superblock, one page cache),
 * and concurrent set-ups of one digest hash it once.
 */
#include <linux/hashtable.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "atomfs.h"

/* Layers with a digest, verified or being verified. */
static DEFINE_HASHTABLE(atomfs_held, 10);
/* Protects atomfs_held and atomfs_lower.{held_node,in_table,state}; never held across I/O. */
static DEFINE_MUTEX(atomfs_held_lock);

static u32 atomfs_digest_key(const struct atomfs_digest *d)
{
	return (u32)d->bytes[0] ^ d->algo;
}

static bool atomfs_digest_eq(const struct atomfs_digest *a,
			     const struct atomfs_digest *b)
{
	return a->algo == b->algo && a->size == b->size &&
	       !memcmp(a->bytes, b->bytes, a->size);
}

/* A held layer with @digest whose reference we could take, or NULL. */
static struct atomfs_lower *atomfs_held_find(const struct atomfs_digest *digest)
{
	struct atomfs_lower *lower;

	lockdep_assert_held(&atomfs_held_lock);
	hash_for_each_possible(atomfs_held, lower, held_node,
			       atomfs_digest_key(digest)) {
		if (atomfs_digest_eq(&lower->digest, digest) &&
		    lower->state != ATOMFS_LOWER_FAILED &&
		    refcount_inc_not_zero(&lower->ref))
			return lower;
	}
	return NULL;
}

/*
 * Find or claim the layer with @digest; *@lowerp gets a reference.
 * ATOMFS_HELD_READY: verified and mounted, use it.
 * ATOMFS_HELD_WAIT:  someone else is setting it up: wait on ->ready, then
 *                    look at ->state.
 * ATOMFS_HELD_OWNED: a new entry; the caller verifies and mounts it, then
 *                    calls atomfs_held_done().
 * Without @create (no device to verify), -ENOENT instead of a new entry.
 */
int atomfs_held_get(const struct atomfs_digest *digest, bool create,
		    struct atomfs_lower **lowerp)
{
	struct atomfs_lower *lower = NULL;
	int ret;

	mutex_lock(&atomfs_held_lock);
	if (atomfs_share_layers)
		lower = atomfs_held_find(digest);
	if (lower) {
		ret = lower->state == ATOMFS_LOWER_READY ? ATOMFS_HELD_READY :
							   ATOMFS_HELD_WAIT;
		goto out;
	}
	ret = -ENOENT;
	if (!create)
		goto out;
	ret = -ENOMEM;
	lower = atomfs_lower_alloc();
	if (!lower)
		goto out;
	lower->digest = *digest;
	lower->state = ATOMFS_LOWER_PENDING;
	if (atomfs_share_layers) {
		hash_add(atomfs_held, &lower->held_node,
			 atomfs_digest_key(digest));
		lower->in_table = true;
	}
	ret = ATOMFS_HELD_OWNED;
out:
	mutex_unlock(&atomfs_held_lock);
	*lowerp = ret < 0 ? NULL : lower;
	return ret;
}

/* The owner of a new entry is done with it: ready, or failed for good. */
void atomfs_held_done(struct atomfs_lower *lower, int err)
{
	mutex_lock(&atomfs_held_lock);
	lower->state = err ? ATOMFS_LOWER_FAILED : ATOMFS_LOWER_READY;
	if (err && lower->in_table) {
		hash_del(&lower->held_node);
		lower->in_table = false;
	}
	mutex_unlock(&atomfs_held_lock);
	complete_all(&lower->ready);
}

/* A held layer no longer matches its digest: never hand it out again. */
void atomfs_held_mark_bad(struct atomfs_lower *lower)
{
	mutex_lock(&atomfs_held_lock);
	lower->state = ATOMFS_LOWER_FAILED;
	/* Every stack using it shows unverified from now on. */
	WRITE_ONCE(lower->flags, lower->flags & ~ATOMFS_INFO_VERIFIED);
	if (lower->in_table) {
		hash_del(&lower->held_node);
		lower->in_table = false;
	}
	mutex_unlock(&atomfs_held_lock);
}

/* The last reference is gone: take the layer out of the table. */
void atomfs_held_forget(struct atomfs_lower *lower)
{
	if (!READ_ONCE(lower->in_table))
		return;
	mutex_lock(&atomfs_held_lock);
	if (lower->in_table) {
		hash_del(&lower->held_node);
		lower->in_table = false;
	}
	mutex_unlock(&atomfs_held_lock);
}

/* ATOMFS_IOC_QUERY_LAYER */
int atomfs_held_query(struct atomfs_query_layer *q)
{
	struct atomfs_lower *lower;

	q->flags = 0;
	q->size = 0;
	mutex_lock(&atomfs_held_lock);
	hash_for_each_possible(atomfs_held, lower, held_node,
			       atomfs_digest_key(&q->digest)) {
		if (atomfs_digest_eq(&lower->digest, &q->digest) &&
		    lower->state == ATOMFS_LOWER_READY &&
		    refcount_read(&lower->ref)) {
			q->flags = ATOMFS_QUERY_HELD;
			q->size = lower->size;
			break;
		}
	}
	mutex_unlock(&atomfs_held_lock);
	return 0;
}
