# SPDX-License-Identifier: GPL-2.0
#
# atomfs top-level Makefile. The two commands a user needs:
#   make demo    build everything, boot the VM and show atomfs at work
#   make check   run every test (userspace on the host, selftests in the VM)
# Both install missing dependencies first (make deps, as root).
#
# Other targets: all (default), module, userspace, selftests, debug-kernel,
# bench, deps, install, clean. KVER selects the Debian kernel the module is built
# for and the VM boots (default: the one linux-image-amd64 depends on).

TOP := $(CURDIR)
VM := $(TOP)/tools/testing/vm
SELFTESTS := $(TOP)/tools/testing/selftests/filesystems/atomfs

# Resolved lazily, and only once per make run.
STOCK_DIR = $(eval STOCK_DIR := $(shell $(VM)/stock-kernel $(KVER)))$(STOCK_DIR)
DEBUG_DIR = $(eval DEBUG_DIR := $(shell $(VM)/debug-kernel))$(DEBUG_DIR)

all: module userspace selftests

deps:
	@$(TOP)/scripts/deps

# Quietly install what is missing before the two user-facing commands.
deps-if-missing:
	@$(TOP)/scripts/deps >/dev/null || $(TOP)/scripts/deps

module:
	@test -n "$(STOCK_DIR)" || { echo "make: could not unpack the Debian kernel (see above)"; exit 1; }
	$(MAKE) -C kernel KDIR=$(STOCK_DIR)/kdir

userspace:
	$(MAKE) -C userspace

selftests:
	$(MAKE) -C $(SELFTESTS)

# The debug kernel (KASAN, lockdep, kmemleak, fault injection) and atomfs.ko
# built against it, in build/debug/kernel (a copy: kbuild writes in place).
debug-kernel:
	@test -n "$(DEBUG_DIR)" || { echo "make: the debug kernel build failed (see above)"; exit 1; }
	@mkdir -p build/debug/kernel
	@ln -sfn $(TOP)/include build/debug/include
	@cp -p kernel/Kbuild kernel/Makefile kernel/*.c kernel/*.h build/debug/kernel/
	$(MAKE) -C build/debug/kernel KDIR=$(DEBUG_DIR)

check: deps-if-missing
	$(MAKE) all debug-kernel
	$(TOP)/tools/testing/check

# Benchmarks print figures (atomfs against overlayfs and openssl, measured in
# the same VM run); they are not tests.
bench: deps-if-missing
	$(MAKE) all
	$(TOP)/tools/testing/bench/run

demo: deps-if-missing
	$(MAKE) all
	$(TOP)/tools/testing/demo

install:
	$(MAKE) -C kernel modules_install
	$(MAKE) -C userspace install

clean:
	-$(MAKE) -C kernel KDIR=$(STOCK_DIR)/kdir clean
	-$(MAKE) -C userspace clean
	rm -rf build

.PHONY: all deps deps-if-missing module userspace selftests debug-kernel \
	check demo bench install clean
