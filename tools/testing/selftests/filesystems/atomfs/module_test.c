// SPDX-License-Identifier: GPL-2.0
/*
 * The module itself: it is loaded, registers its filesystem type and control
 * device, refuses what it does not know, and unloads and reloads cleanly.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <linux/atomfs.h>

#include "kselftest_harness.h"
#include "utils.h"

TEST(module_is_loaded)
{
	ASSERT_TRUE(path_exists("/sys/module/atomfs"));
}

TEST(filesystem_is_registered)
{
	ASSERT_TRUE(file_has_line("/proc/filesystems", "\tatomfs"));
}

TEST(control_device_exists)
{
	struct stat st;

	ASSERT_EQ(0, stat(ATOMFS_CTL_DEVICE, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(0600U, st.st_mode & 07777);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	unsigned long cmds[] = { _IO(ATOMFS_IOC_MAGIC, 0),
				 _IO(ATOMFS_IOC_MAGIC, 0xff),
				 _IOR('T', 1, int), 0 };
	unsigned int i;

	ASSERT_GE(fd, 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, cmds[i], 0));
		EXPECT_EQ(ENOTTY, errno);
	}
	close(fd);
}

TEST(mount_without_stack_is_einval)
{
	char dir[] = "/tmp/atomfs-mnt.XXXXXX";

	ASSERT_NE(NULL, mkdtemp(dir));
	errno = 0;
	EXPECT_EQ(-1, mount("none", dir, "atomfs", MS_RDONLY, NULL));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, mount("none", dir, "atomfs", MS_RDONLY, "foo=bar"));
	EXPECT_EQ(EINVAL, errno);
	rmdir(dir);
}

TEST(unload_and_reload)
{
	ASSERT_EQ(0, run("rmmod atomfs"));
	EXPECT_FALSE(path_exists("/sys/module/atomfs"));
	EXPECT_FALSE(path_exists(ATOMFS_CTL_DEVICE));
	EXPECT_FALSE(file_has_line("/proc/filesystems", "\tatomfs"));
	ASSERT_EQ(0, run("modprobe atomfs"));
	EXPECT_TRUE(path_exists("/sys/module/atomfs"));
	EXPECT_TRUE(path_exists(ATOMFS_CTL_DEVICE));
	EXPECT_TRUE(file_has_line("/proc/filesystems", "\tatomfs"));
}

TEST(mount_type_autoloads_module)
{
	char dir[] = "/tmp/atomfs-mnt.XXXXXX";

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, run("rmmod atomfs"));
	ASSERT_FALSE(path_exists("/sys/module/atomfs"));
	/* The kernel asks modprobe for fs-atomfs (MODULE_ALIAS_FS). */
	errno = 0;
	EXPECT_EQ(-1, mount("none", dir, "atomfs", MS_RDONLY, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(path_exists("/sys/module/atomfs"));
	if (!path_exists("/sys/module/atomfs"))
		run("modprobe atomfs");
	rmdir(dir);
}

TEST_HARNESS_MAIN
