// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: layers given as blob files (ATOMFS_LAYER_FILE). squashfs needs a
 * block device, so each held file layer gets one of the module's own: a
 * read-only blk-mq disk that reads the file with direct I/O where the file's
 * filesystem allows it, and has no operation that could change its file.
 * The file's write access is denied for as long as the module holds it.
 * See "Layers given as files" in Documentation/filesystems/atomfs.rst.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fadvise.h>
#include <linux/file.h>
#include <linux/fs_context.h>
#include <linux/idr.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <linux/wait_bit.h>

#include "atomfs.h"

static int atomfs_blob_major;
/* Minor numbers of the disks: "atomfsb<minor>". */
static DEFINE_IDA(atomfs_blob_ida);
/* Disks not yet freed: module exit waits for them. */
static atomic_t atomfs_blob_disks = ATOMIC_INIT(0);
/*
 * Requests are served here, never in the submitter's context: a read of the
 * file submits bios of its own, which would only be queued on the
 * submitter's current->bio_list until queue_rq returned (a hang), as loop
 * explains for its own workers. WQ_MEM_RECLAIM: writeback may wait on it.
 */
static struct workqueue_struct *atomfs_blob_wq;

/* The per-request data (tag_set.cmd_size). */
struct atomfs_blob_cmd {
	struct work_struct work;
};

/* Read one bio of @rq from the blob at *@pos. */
static blk_status_t atomfs_blob_read_bio(struct atomfs_blob *blob,
					 struct bio *bio, loff_t *pos)
{
	unsigned int len = bio->bi_iter.bi_size;
	bool direct = READ_ONCE(blob->direct);
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

again:
	iov_iter_bvec(&iter, ITER_DEST,
		      __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter),
		      bio_segments(bio), len);
	iter.iov_offset = bio->bi_iter.bi_bvec_done;
	init_sync_kiocb(&kiocb, blob->file);
	kiocb.ki_pos = *pos;
	/* Not the caller's O_DIRECT (F_SETFL on the shared file): ours. */
	kiocb.ki_flags &= ~IOCB_DIRECT;
	if (direct)
		kiocb.ki_flags |= IOCB_DIRECT;
	while (iov_iter_count(&iter)) {
		ret = blob->file->f_op->read_iter(&kiocb, &iter);
		/* A buffer direct I/O cannot take: read it through the cache. */
		if (ret == -EINVAL && direct &&
		    iov_iter_count(&iter) == len) {
			direct = false;
			goto again;
		}
		if (ret < 0)
			return errno_to_blk_status(ret);
		/*
		 * The size is a multiple of 512 and pinned while the layer is
		 * held: a file that ends early shrank under us (a network or
		 * user-space filesystem). Never serve zeros as verified data.
		 */
		if (!ret)
			return BLK_STS_IOERR;
	}
	*pos += len;
	return BLK_STS_OK;
}

/* A request, in atomfs_blob_wq: only reads; anything else fails. */
static void atomfs_blob_work(struct work_struct *work)
{
	struct atomfs_blob_cmd *cmd =
		container_of(work, struct atomfs_blob_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct atomfs_blob *blob = rq->q->queuedata;
	loff_t pos = (loff_t)blk_rq_pos(rq) << SECTOR_SHIFT;
	blk_status_t status = BLK_STS_IOERR;
	unsigned int noio;
	struct bio *bio;

	/* Reclaim must not recurse into I/O that may wait on this device. */
	noio = memalloc_noio_save();
	if (req_op(rq) == REQ_OP_READ) {
		status = BLK_STS_OK;
		__rq_for_each_bio(bio, rq) {
			status = atomfs_blob_read_bio(blob, bio, &pos);
			if (status)
				break;
		}
	}
	memalloc_noio_restore(noio);
	blk_mq_end_request(rq, status);
}

static blk_status_t atomfs_blob_queue_rq(struct blk_mq_hw_ctx *hctx,
					 const struct blk_mq_queue_data *bd)
{
	struct atomfs_blob_cmd *cmd = blk_mq_rq_to_pdu(bd->rq);

	blk_mq_start_request(bd->rq);
	INIT_WORK(&cmd->work, atomfs_blob_work);
	queue_work(atomfs_blob_wq, &cmd->work);
	return BLK_STS_OK;
}

static const struct blk_mq_ops atomfs_blob_mq_ops = {
	.queue_rq = atomfs_blob_queue_rq,
};

/* Nobody opens the device for writing, not even with CAP_SYS_ADMIN. */
static int atomfs_blob_bdev_open(ATOMFS_BDEV_OPEN_ARGS)
{
	return atomfs_bdev_open_write(mode) ? -EROFS : 0;
}

/*
 * The last reference to the disk is gone. The file was given back at
 * atomfs_blob_put(): a reader of the removed node keeps only this.
 */
static void atomfs_blob_free_disk(struct gendisk *disk)
{
	struct atomfs_blob *blob = disk->private_data;

	ida_free(&atomfs_blob_ida, blob->minor);
	kfree(blob);
	if (atomic_dec_and_test(&atomfs_blob_disks))
		wake_up_var(&atomfs_blob_disks);
}

/* No ioctl, no change-fd: the device serves its file or nothing. */
static const struct block_device_operations atomfs_blob_fops = {
	.owner = THIS_MODULE,
	.open = atomfs_blob_bdev_open,
	.free_disk = atomfs_blob_free_disk,
};

/* Page cache entries looked at between two chances to reschedule. */
#define ATOMFS_PIN_SCAN_BATCH 4096
/* Looks at the page cache for pins, 5 ms to 80 ms apart (memfd's). */
#define ATOMFS_PIN_LAST_SCAN 4

/*
 * May @folio be pinned for DMA? For a small folio folio_maybe_dma_pinned()
 * only asks whether it has GUP_PIN_COUNTING_BIAS references, which enough
 * read-only mappings of one page reach: take them off, as memfd does.
 * Other plain references (pipe buffers holding the page) still count.
 */
static bool atomfs_folio_pinned(struct folio *folio)
{
	bool pinned;

	if (folio_test_large(folio))
		return folio_maybe_dma_pinned(folio);
	/*
	 * A fault takes its reference before it raises the mapcount: read
	 * both without being preempted in between, or a burst of new
	 * mappings could hide a pin for one scan.
	 */
	preempt_disable();
	pinned = folio_ref_count(folio) - atomfs_small_folio_mapcount(folio) >=
		 GUP_PIN_COUNTING_BIAS;
	preempt_enable();
	return pinned;
}

/*
 * Does @mapping hold a folio that may be pinned for DMA (pin_user_pages():
 * an io_uring fixed buffer, a device's DMA, ...)? Lockless, as filemap's
 * own lookups: each folio is looked at under a reference, taken only if it
 * is still in use and still at that index.
 */
static bool atomfs_mapping_pinned(struct address_space *mapping)
{
	XA_STATE(xas, &mapping->i_pages, 0);
	unsigned int latency = 0;
	struct folio *folio;
	bool pinned = false;

	rcu_read_lock();
	xas_for_each(&xas, folio, ULONG_MAX) {
		if (xas_retry(&xas, folio) || xa_is_value(folio))
			goto next;
		if (!folio_try_get(folio))
			goto reset;
		if (unlikely(folio != xas_reload(&xas))) {
			folio_put(folio);
			goto reset;
		}
		pinned = atomfs_folio_pinned(folio);
		folio_put(folio);
		if (pinned)
			break;
next:
		if (++latency < ATOMFS_PIN_SCAN_BATCH)
			continue;
		latency = 0;
		xas_pause(&xas);
		rcu_read_unlock();
		cond_resched();
		rcu_read_lock();
		continue;
reset:
		xas_reset(&xas);
	}
	rcu_read_unlock();
	return pinned;
}

/*
 * The write denial stops new writers, not those that pinned pages of the
 * file before it: a shared writable mapping registered as an io_uring
 * fixed buffer, then unmapped and its file closed, still writes into the
 * page cache. Refuse such a blob (ETXTBSY), as memfd refuses F_SEAL_WRITE
 * (memfd_wait_for_pins()), after a short wait for pins that are only
 * passing (a direct I/O in flight). Every blob is scanned, whatever its
 * filesystem: io_uring registers only shmem mappings, but AF_XDP, RDMA and
 * vfio pin any file's pages long-term and writable on 6.1. Fail closed: a
 * small folio with GUP_PIN_COUNTING_BIAS plain references besides its
 * mappings (pipe buffers) cannot be told from a pinned one and refuses
 * too. No pin that writes can be taken after the denial: it needs a
 * writable shared mapping, which keeps a file open for writing. See
 * "Layers given as files" in atomfs.rst.
 */
static int atomfs_blob_wait_for_pins(struct file *file)
{
	int scan;

	for (scan = 0; scan <= ATOMFS_PIN_LAST_SCAN; scan++) {
		if (!atomfs_mapping_pinned(file->f_mapping))
			return 0;
		if (scan == ATOMFS_PIN_LAST_SCAN)
			break;
		if (schedule_timeout_killable((HZ << scan) / 200))
			return -EINTR;
	}
	pr_warn_ratelimited("a page of blob %pD may be pinned for DMA by an earlier writer: refused\n",
			    file);
	return -ETXTBSY;
}

/*
 * The blob file of a descriptor with ATOMFS_LAYER_FILE, checked (a regular
 * file open for reading, exactly @desc->size bytes, a multiple of 512, or
 * of 4096 when it is to be verified) and with write access denied: nobody
 * can open it for writing until atomfs_layer_put_file() or
 * atomfs_blob_put(). This is where a kernel whose squashfs mounts files directly
 * would take the file instead of making a device of it.
 */
struct file *atomfs_layer_open_file(const struct atomfs_layer *desc)
{
	struct file *file;
	int err;

	file = fget(desc->fd);
	if (!file)
		return ERR_PTR(-EBADF);
	err = -EINVAL;
	if (!S_ISREG(file_inode(file)->i_mode))
		goto out;
	err = -EBADF;
	if (!(file->f_mode & FMODE_READ) || !file->f_op->read_iter)
		goto out;
	err = -EMSGSIZE;
	if (i_size_read(file_inode(file)) != desc->size || !desc->size ||
	    !IS_ALIGNED(desc->size, SECTOR_SIZE))
		goto out;
	if (desc->digest.algo != ATOMFS_DIGEST_NONE &&
	    !IS_ALIGNED(desc->size, 4096))
		goto out;
	/* Also refuses the caller's own fd if it was opened for writing. */
	err = deny_write_access(file);
	if (err)
		goto out;
	/* A writer may have changed the size between the check and the denial. */
	err = -EMSGSIZE;
	if (i_size_read(file_inode(file)) != desc->size)
		goto out_allow;
	err = atomfs_blob_wait_for_pins(file);
	if (err)
		goto out_allow;
	return file;
out_allow:
	allow_write_access(file);
out:
	fput(file);
	return ERR_PTR(err);
}

/* Undo atomfs_layer_open_file() for a file that got no device. */
void atomfs_layer_put_file(struct file *file)
{
	allow_write_access(file);
	fput(file);
}

/*
 * Does the write denial on @file pin its bytes, so that a held layer may be
 * reused on the strength of its digest? Only where this kernel is the one
 * writer of the file's data: a filesystem not stacked on another, with its
 * data on a block device of this kernel (FS_REQUIRES_DEV) or in its memory
 * (tmpfs, ramfs); not fuseblk (a daemon serves the bytes), gfs2 or ocfs2
 * (other nodes write the shared disk), nor a disk whose blocks a file or a
 * daemon provides (loop, nbd, ublk, our own). Everything else (9p, NFS,
 * FUSE, overlayfs, erofs from a file, ...) is hashed again on reuse. See
 * "Reuse without a hash" in Documentation/filesystems/atomfs.rst.
 */
static bool atomfs_blob_pinned(struct file *file)
{
	static const char * const in_memory[] = { "tmpfs", "ramfs" };
	static const char * const shared[] = {
		"fuseblk", "gfs2", "gfs2meta", "ocfs2",
	};
	/* disks whose blocks another file or a daemon provides */
	static const char * const virtual[] = {
		"loop", "nbd", "ublkb", "atomfsb",
	};
	struct super_block *sb = file_inode(file)->i_sb;
	const char *name = sb->s_type->name;
	unsigned int i;

	if (sb->s_stack_depth)
		return false;
	if (match_string(in_memory, ARRAY_SIZE(in_memory), name) >= 0)
		return true;
	if (!(sb->s_type->fs_flags & FS_REQUIRES_DEV) ||
	    match_string(shared, ARRAY_SIZE(shared), name) >= 0)
		return false;
	/*
	 * No device of its own: erofs from a file (6.12), which does not deny
	 * writers to its image; btrfs keeps its devices to itself.
	 */
	if (!sb->s_bdev)
		return !strcmp(name, "btrfs");
	for (i = 0; i < ARRAY_SIZE(virtual); i++)
		if (str_has_prefix(sb->s_bdev->bd_disk->disk_name, virtual[i]))
			return false;
	return true;
}

/*
 * Read @blob's file with direct I/O? Loop's rule (__loop_update_dio() on
 * 6.1, the same on 6.12): the open file can (FMODE_CAN_ODIRECT, on both
 * lines), and the device under its filesystem, if any, has logical blocks
 * no larger than ours, so that every request we get can be aligned for it.
 */
static bool atomfs_blob_can_direct(struct atomfs_blob *blob)
{
	struct block_device *sb_bdev = file_inode(blob->file)->i_sb->s_bdev;

	if (!(blob->file->f_mode & FMODE_CAN_ODIRECT))
		return false;
	return !sb_bdev || bdev_logical_block_size(sb_bdev) <=
			   queue_logical_block_size(blob->disk->queue);
}

/*
 * The logical block size of @file's device: as loop does for a file it
 * reads directly, that of the disk under the file's filesystem, so that a
 * blob on a disk with 4 KiB sectors gets direct I/O (squashfs then reads
 * whole 4 KiB blocks); 512 where the file cannot do direct I/O, has no
 * such disk, or is not a whole number of those blocks (an unverified blob
 * may be padded to 512 only; a verified one is padded to 4096).
 */
static unsigned int atomfs_blob_block_size(struct file *file)
{
	struct block_device *sb_bdev = file_inode(file)->i_sb->s_bdev;
	unsigned int size;

	if (!sb_bdev || !(file->f_mode & FMODE_CAN_ODIRECT))
		return SECTOR_SIZE;
	size = bdev_logical_block_size(sb_bdev);
	if (size > 4096 || !IS_ALIGNED(i_size_read(file_inode(file)), size))
		return SECTOR_SIZE;
	return size;
}

/*
 * Make the device of @file (from atomfs_layer_open_file()); the blob takes
 * over the file reference and its write denial, also on failure.
 */
struct atomfs_blob *atomfs_blob_create(struct file *file)
{
	struct atomfs_blob *blob;
	struct gendisk *disk;
	int err = -ENOMEM;

	blob = kzalloc(sizeof(*blob), GFP_KERNEL);
	if (!blob || atomfs_should_fail())
		goto out_file;
	blob->file = file;

	err = ida_alloc_max(&atomfs_blob_ida, MINORMASK, GFP_KERNEL);
	if (err < 0)
		goto out_file;
	blob->minor = err;

	blob->tag_set.ops = &atomfs_blob_mq_ops;
	blob->tag_set.nr_hw_queues = 1;
	blob->tag_set.queue_depth = 16;
	blob->tag_set.numa_node = NUMA_NO_NODE;
	blob->tag_set.cmd_size = sizeof(struct atomfs_blob_cmd);
	/*
	 * queue_rq only queues work: it never sleeps. As loop: no I/O
	 * scheduler (the file's own device has one), no CPU hotplug
	 * callbacks (requests complete in our worker), merged bios.
	 */
	blob->tag_set.flags = BLK_MQ_F_SHOULD_MERGE | BLK_MQ_F_STACKING |
			      BLK_MQ_F_NO_SCHED_BY_DEFAULT;
	blob->tag_set.driver_data = blob;
	err = blk_mq_alloc_tag_set(&blob->tag_set);
	if (err)
		goto out_ida;

	disk = atomfs_blob_alloc_disk(&blob->tag_set, blob,
				      atomfs_blob_block_size(file));
	err = PTR_ERR(disk);
	if (IS_ERR(disk))
		goto out_tags;
	disk->major = atomfs_blob_major;
	disk->first_minor = blob->minor;
	disk->minors = 1;
	disk->fops = &atomfs_blob_fops;
	disk->private_data = blob;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "atomfsb%d", blob->minor);
	set_capacity(disk, i_size_read(file_inode(file)) >> SECTOR_SHIFT);
	set_disk_ro(disk, true);
	/*
	 * Quiet while it is set up; device_add_disk() lets uevents out again,
	 * so udev does see (and may probe) each layer's disk.
	 */
	dev_set_uevent_suppress(disk_to_dev(disk), 1);
	blob->disk = disk;
	/* Cache the data once, in the layer's mount, as loop's direct_io. */
	blob->direct = atomfs_blob_can_direct(blob);
	blob->pinned = atomfs_blob_pinned(file);

	err = add_disk(disk);
	/*
	 * device_add_disk() ignores a failed dev_set_name() and device_add()
	 * then reports the missing name as EINVAL. Our parameters cannot be
	 * what it refuses (a major of our own, one minor up to MINORMASK, no
	 * poll_bio), so EINVAL here is that lost allocation: say so, rather
	 * than blame the caller's descriptor (fault_test's fail-nth walk).
	 */
	if (err == -EINVAL)
		err = -ENOMEM;
	if (err)
		goto out_disk;
	/* From here on, atomfs_blob_free_disk() releases everything. */
	atomic_inc(&atomfs_blob_disks);
	return blob;

out_disk:
	put_disk(disk);
out_tags:
	blk_mq_free_tag_set(&blob->tag_set);
out_ida:
	ida_free(&atomfs_blob_ida, blob->minor);
out_file:
	kfree(blob);
	atomfs_layer_put_file(file);
	return ERR_PTR(err);
}

struct block_device *atomfs_blob_bdev(struct atomfs_blob *blob)
{
	return blob->disk->part0;
}

/*
 * Remove the device and give its file back. Its mount must be gone
 * (atomfs_layers_release() unmounts synchronously first). del_gendisk()
 * marks the disk dead and waits for the requests in flight, so no worker
 * reads the file after it: someone who still has the node open (udev's
 * probe, say) gets errors from now on and does not delay the file's
 * return.
 */
void atomfs_blob_put(struct atomfs_blob *blob)
{
	struct gendisk *disk = blob->disk;

	del_gendisk(disk);
	atomfs_layer_put_file(blob->file);
	blob->file = NULL;
	blk_mq_free_tag_set(&blob->tag_set);
	put_disk(disk);
}

/* What the worker mounts and what it got. */
struct atomfs_blob_mount {
	struct work_struct work;
	struct completion done;
	char source[DISK_NAME_LEN + 8];
	struct vfsmount *mnt;
};

/*
 * Kernel threads share init_fs: the path is looked up in PID 1's root and
 * mount namespace, where devtmpfs made the node, whatever the caller's
 * root. SB_KERNMOUNT makes an internal mount, released synchronously by
 * kern_unmount_array().
 */
static void atomfs_blob_mount_work(struct work_struct *work)
{
	struct atomfs_blob_mount *m =
		container_of(work, struct atomfs_blob_mount, work);
	struct file_system_type *type;
	struct fs_context *fc;
	int err;

	m->mnt = ERR_PTR(-ENODEV);
	type = get_fs_type("squashfs");
	if (!type)
		goto out;
	fc = fs_context_for_mount(type, SB_RDONLY | SB_KERNMOUNT);
	/* The context holds its own reference; put_filesystem() is private. */
	module_put(type->owner);
	m->mnt = ERR_CAST(fc);
	if (IS_ERR(fc))
		goto out;
	err = vfs_parse_fs_string(fc, "source", m->source, strlen(m->source));
	m->mnt = err ? ERR_PTR(err) : fc_mount(fc);
	put_fs_context(fc);
out:
	complete(&m->done);
}

/* Mount squashfs on @blob's device privately. */
struct vfsmount *atomfs_blob_mount(struct atomfs_blob *blob)
{
	bool direct = blob->direct;
	struct atomfs_blob_mount m;
	int err;

	/*
	 * squashfs's fill_super reads a dozen small blocks, each waiting for
	 * the last: through the file's page cache, its readahead makes them
	 * one or two reads of the file. Dropped once mounted. Only where the
	 * layer is pinned: elsewhere (9p, NFS) the cache need not hold what
	 * the hash read from the server.
	 */
	if (blob->pinned)
		WRITE_ONCE(blob->direct, false);
	INIT_WORK_ONSTACK(&m.work, atomfs_blob_mount_work);
	init_completion(&m.done);
	snprintf(m.source, sizeof(m.source), "/dev/%s", blob->disk->disk_name);
	queue_work(system_unbound_wq, &m.work);
	wait_for_completion(&m.done);
	/* Until the worker has left the module's code too (rmmod). */
	flush_work(&m.work);
	destroy_work_on_stack(&m.work);
	if (direct && blob->pinned) {
		WRITE_ONCE(blob->direct, true);
		vfs_fadvise(blob->file, 0, 0, POSIX_FADV_DONTNEED);
	}
	if (IS_ERR(m.mnt)) {
		if (PTR_ERR(m.mnt) == -ENOENT)
			pr_warn_ratelimited("%s is missing in PID 1's root: is devtmpfs mounted on its /dev?\n",
					    m.source);
		return m.mnt;
	}
	err = atomfs_check_bdev_mount(m.mnt, disk_devt(blob->disk));
	if (err) {
		kern_unmount(m.mnt);
		return ERR_PTR(err);
	}
	return m.mnt;
}

int __init atomfs_blob_init(void)
{
	atomfs_blob_wq = alloc_workqueue("atomfs_blob",
					 WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!atomfs_blob_wq)
		return -ENOMEM;
	atomfs_blob_major = register_blkdev(0, "atomfs");
	if (atomfs_blob_major < 0) {
		destroy_workqueue(atomfs_blob_wq);
		return atomfs_blob_major;
	}
	return 0;
}

void atomfs_blob_exit(void)
{
	/* A reader that kept a removed node open may still hold a disk. */
	wait_var_event(&atomfs_blob_disks, !atomic_read(&atomfs_blob_disks));
	unregister_blkdev(atomfs_blob_major, "atomfs");
	ida_destroy(&atomfs_blob_ida);
	destroy_workqueue(atomfs_blob_wq);
}
