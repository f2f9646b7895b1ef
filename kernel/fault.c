// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: a fault attribute of the module's own, in debugfs as
 * /sys/kernel/debug/atomfs/fail_*. Per-task fail-nth does not reach the
 * verification workers, and 6.1 cannot filter failslab by stack trace on
 * x86-64, so the allocation and worker paths consult this one.
 *
 * And a delay knob, /sys/kernel/debug/atomfs/delay_point and delay_ms: a
 * task reaching the numbered point (ATOMFS_DELAY_*) sleeps delay_ms, which
 * widens a race window so that a selftest reproduces the race every time.
 * worker_faults counts the faults injected in a workqueue worker (the
 * verification and blob workers), so a test can tell them from faults in
 * the calling task.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fault-inject.h>

#include "atomfs.h"

static DECLARE_FAULT_ATTR(atomfs_fail);
static struct dentry *atomfs_debugfs;
static u32 atomfs_delay_point;
static u32 atomfs_delay_ms;
/* faults injected in the module's workers (tests: one landed there) */
static atomic_t atomfs_worker_faults = ATOMIC_INIT(0);

bool atomfs_should_fail(void)
{
	if (!should_fail(&atomfs_fail, 1))
		return false;
	if (current->flags & PF_WQ_WORKER)
		atomic_inc(&atomfs_worker_faults);
	return true;
}

void atomfs_delay(unsigned int point)
{
	u32 ms;

	if (READ_ONCE(atomfs_delay_point) != point)
		return;
	ms = READ_ONCE(atomfs_delay_ms);
	if (ms)
		msleep(ms);
}

int __init atomfs_fault_init(void)
{
	atomfs_debugfs = fault_create_debugfs_attr("atomfs", NULL,
						   &atomfs_fail);
	if (IS_ERR(atomfs_debugfs)) {
		atomfs_debugfs = NULL; /* debugfs is optional */
		return 0;
	}
	debugfs_create_u32("delay_point", 0600, atomfs_debugfs,
			   &atomfs_delay_point);
	debugfs_create_u32("delay_ms", 0600, atomfs_debugfs, &atomfs_delay_ms);
	debugfs_create_atomic_t("worker_faults", 0400, atomfs_debugfs,
				&atomfs_worker_faults);
	return 0;
}

void atomfs_fault_exit(void)
{
	debugfs_remove_recursive(atomfs_debugfs);
}
