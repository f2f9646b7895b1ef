// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: verifying layers. Each block device to check gets a work item on
 * the atomfs_verify workqueue; the worker reads the device with direct bios
 * (nothing lands in the page cache), one read in flight while the previous
 * one is hashed, and compares the sha256 with the expected digest.
 */
#include <crypto/hash.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "atomfs.h"

#define ATOMFS_VERIFY_CHUNK_PAGES 256	/* 1 MiB reads */

static struct workqueue_struct *atomfs_verify_wq;
struct atomfs_stats atomfs_stats;

/* The name of the sha256 driver last used, for /proc/fs/atomfs/stats. */
static char atomfs_sha256_driver[CRYPTO_MAX_ALG_NAME] = "none yet";
static DEFINE_SPINLOCK(atomfs_sha256_driver_lock);

void atomfs_sha256_driver_name(char *buf, size_t size)
{
	spin_lock(&atomfs_sha256_driver_lock);
	strscpy(buf, atomfs_sha256_driver, size);
	spin_unlock(&atomfs_sha256_driver_lock);
}

/* One read buffer: pages and the bio reading into them. */
struct atomfs_chunk {
	struct page *pages[ATOMFS_VERIFY_CHUNK_PAGES];
	struct bio *bio;
	struct completion done;
	unsigned int len;
};

static void atomfs_chunk_end_io(struct bio *bio)
{
	complete(bio->bi_private);
}

static void atomfs_chunk_free(struct atomfs_chunk *c)
{
	unsigned int i;

	for (i = 0; i < ATOMFS_VERIFY_CHUNK_PAGES; i++) {
		if (c->pages[i])
			__free_page(c->pages[i]);
	}
	kfree(c);
}

static struct atomfs_chunk *atomfs_chunk_alloc(void)
{
	struct atomfs_chunk *c;
	unsigned int i;

	if (atomfs_should_fail())
		return NULL;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return NULL;
	for (i = 0; i < ATOMFS_VERIFY_CHUNK_PAGES; i++) {
		c->pages[i] = alloc_page(GFP_KERNEL);
		if (!c->pages[i]) {
			atomfs_chunk_free(c);
			return NULL;
		}
	}
	init_completion(&c->done);
	return c;
}

static void atomfs_chunk_submit(struct atomfs_chunk *c,
				struct block_device *bdev, u64 pos,
				unsigned int len)
{
	unsigned int i, nr = DIV_ROUND_UP(len, PAGE_SIZE);

	c->len = len;
	c->bio = bio_alloc(bdev, nr, REQ_OP_READ, GFP_KERNEL);
	c->bio->bi_iter.bi_sector = pos >> SECTOR_SHIFT;
	c->bio->bi_end_io = atomfs_chunk_end_io;
	c->bio->bi_private = &c->done;
	for (i = 0; i < nr; i++)
		__bio_add_page(c->bio, c->pages[i],
			       min_t(unsigned int, PAGE_SIZE, len - i * PAGE_SIZE),
			       0);
	reinit_completion(&c->done);
	submit_bio(c->bio);
}

static int atomfs_chunk_wait(struct atomfs_chunk *c)
{
	int err;

	wait_for_completion_io(&c->done);
	err = blk_status_to_errno(c->bio->bi_status);
	bio_put(c->bio);
	c->bio = NULL;
	return err;
}

static int atomfs_chunk_hash(struct atomfs_chunk *c, struct shash_desc *desc)
{
	unsigned int i, n;
	int err = 0;

	for (i = 0; !err && i * PAGE_SIZE < c->len; i++) {
		void *p = kmap_local_page(c->pages[i]);

		n = min_t(unsigned int, PAGE_SIZE, c->len - i * PAGE_SIZE);
		err = crypto_shash_update(desc, p, n);
		kunmap_local(p);
	}
	return err;
}

static void atomfs_note_worker(int delta)
{
	int now = atomic_add_return(delta, &atomfs_stats.workers);
	int max = atomic_read(&atomfs_stats.max_workers);

	while (now > max && !atomic_try_cmpxchg(&atomfs_stats.max_workers,
						&max, now))
		;
}

/* Hash all of @job's device into job->actual. */
static int atomfs_hash_bdev(struct atomfs_verify_job *job,
			    struct shash_desc *desc)
{
	const unsigned int max = ATOMFS_VERIFY_CHUNK_PAGES * PAGE_SIZE;
	struct atomfs_chunk *c[2];
	unsigned int len, next_len;
	u64 pos = 0;
	int i = 0, err;

	c[0] = atomfs_chunk_alloc();
	c[1] = atomfs_chunk_alloc();
	err = -ENOMEM;
	if (!c[0] || !c[1])
		goto out;
	err = crypto_shash_init(desc);
	if (err || !job->size)
		goto final;

	len = min_t(u64, max, job->size);
	atomfs_chunk_submit(c[0], job->bdev, 0, len);
	for (;;) {
		err = atomfs_chunk_wait(c[i]);
		pos += len;
		/* Keep the device busy while this chunk is hashed. */
		next_len = min_t(u64, max, job->size - pos);
		if (!err && next_len && !READ_ONCE(job->v->abort))
			atomfs_chunk_submit(c[i ^ 1], job->bdev, pos, next_len);
		else
			next_len = 0;
		if (!err)
			err = atomfs_chunk_hash(c[i], desc);
		if (!err) {
			atomic64_add(len, &atomfs_stats.bytes_hashed);
			atomfs_delay(ATOMFS_DELAY_HASH_CHUNK);
		}
		if (!err && READ_ONCE(job->v->abort))
			err = -EINTR;
		if (!next_len)
			break;
		if (err) {
			atomfs_chunk_wait(c[i ^ 1]);
			break;
		}
		i ^= 1;
		len = next_len;
		cond_resched();
	}
final:
	if (!err)
		err = crypto_shash_final(desc, job->actual);
out:
	if (c[0])
		atomfs_chunk_free(c[0]);
	if (c[1])
		atomfs_chunk_free(c[1]);
	return err;
}

static void atomfs_verify_work(struct work_struct *work)
{
	struct atomfs_verify_job *job =
		container_of(work, struct atomfs_verify_job, work);
	struct atomfs_verify *v = job->v;
	struct shash_desc *desc;

	atomfs_note_worker(1);
	desc = kmalloc(sizeof(*desc) + crypto_shash_descsize(v->tfm),
		       GFP_KERNEL);
	if (!desc || atomfs_should_fail()) {
		job->err = -ENOMEM;
	} else {
		desc->tfm = v->tfm;
		job->err = atomfs_hash_bdev(job, desc);
		shash_desc_zero(desc);
	}
	kfree(desc);
	if (!job->err && memcmp(job->actual, job->expect->bytes, 32))
		job->err = -EBADMSG;
	atomfs_note_worker(-1);
	if (atomic_dec_and_test(&v->pending))
		complete(&v->done);
}

int atomfs_verify_start(struct atomfs_verify *v)
{
	memset(v, 0, sizeof(*v));
	init_completion(&v->done);
	atomic_set(&v->pending, 1);
	v->tfm = crypto_alloc_shash("sha256", 0, 0);
	if (IS_ERR(v->tfm)) {
		int err = PTR_ERR(v->tfm);

		v->tfm = NULL;
		return err;
	}
	spin_lock(&atomfs_sha256_driver_lock);
	strscpy(atomfs_sha256_driver, crypto_shash_driver_name(v->tfm),
		sizeof(atomfs_sha256_driver));
	spin_unlock(&atomfs_sha256_driver_lock);
	return 0;
}

void atomfs_verify_queue(struct atomfs_verify *v, struct atomfs_verify_job *job)
{
	job->v = v;
	job->err = 0;
	INIT_WORK(&job->work, atomfs_verify_work);
	atomic_inc(&v->pending);
	queue_work(atomfs_verify_wq, &job->work);
}

/*
 * Wait for every job queued on @v. A fatal signal makes the workers stop at
 * their next chunk, but the wait goes on until all of them are done: they
 * use the caller's devices and buffers.
 */
int atomfs_verify_wait(struct atomfs_verify *v)
{
	int err = 0;

	if (!atomic_dec_and_test(&v->pending)) {
		if (wait_for_completion_killable(&v->done)) {
			WRITE_ONCE(v->abort, true);
			atomic64_inc(&atomfs_stats.aborted);
			wait_for_completion(&v->done);
			err = -EINTR;
		}
	}
	/* Ready for another round. */
	reinit_completion(&v->done);
	atomic_set(&v->pending, 1);
	return err;
}

void atomfs_verify_end(struct atomfs_verify *v)
{
	if (v->tfm)
		crypto_free_shash(v->tfm);
}

int __init atomfs_verify_init(void)
{
	/* Hashing is CPU-bound: one worker per CPU is enough. */
	atomfs_verify_wq = alloc_workqueue("atomfs_verify", WQ_UNBOUND,
					   num_possible_cpus());
	return atomfs_verify_wq ? 0 : -ENOMEM;
}

void atomfs_verify_exit(void)
{
	destroy_workqueue(atomfs_verify_wq);
}
