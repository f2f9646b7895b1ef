// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: a fault attribute of the module's own, in debugfs as
 * /sys/kernel/debug/atomfs/fail_*. Per-task fail-nth does not reach the
 * verification workers, and 6.1 cannot filter failslab by stack trace on
 * x86-64, so the allocation and worker paths consult this one.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fault-inject.h>

#include "atomfs.h"

static DECLARE_FAULT_ATTR(atomfs_fail);
static struct dentry *atomfs_debugfs;
/* Tests: a pause after each chunk hashed keeps a verification in flight. */
static u32 atomfs_verify_delay_ms;

bool atomfs_should_fail(void)
{
	return should_fail(&atomfs_fail, 1);
}

void atomfs_verify_delay(void)
{
	u32 ms = READ_ONCE(atomfs_verify_delay_ms);

	if (ms)
		msleep(ms);
}

int __init atomfs_fault_init(void)
{
	atomfs_debugfs = fault_create_debugfs_attr("atomfs", NULL,
						   &atomfs_fail);
	if (IS_ERR(atomfs_debugfs))
		atomfs_debugfs = NULL; /* debugfs is optional */
	else
		debugfs_create_u32("verify_delay_ms", 0600, atomfs_debugfs,
				   &atomfs_verify_delay_ms);
	return 0;
}

void atomfs_fault_exit(void)
{
	debugfs_remove_recursive(atomfs_debugfs);
}
