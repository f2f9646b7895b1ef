# SPDX-License-Identifier: GPL-2.0
#
# atomfs top-level Makefile. The two commands a user needs:
#   make demo    build everything, boot the VM and show atomfs at work
#   make check   run every test (userspace on the host, selftests in the VM)
# Both install missing dependencies first (make deps, as root).
#
# Other targets: all (default), module, module-LINE (one per STOCK_LINES),
# userspace, selftests, debug-kernel, bench, fuzz, stress, deps, install,
# clean. KVER selects
# the Debian kernel the module is built for and the VM boots (default: the one
# linux-image-amd64 depends on).

TOP := $(CURDIR)
VM := $(TOP)/tools/testing/vm
SELFTESTS := $(TOP)/tools/testing/selftests/filesystems/atomfs

# Resolved lazily, and only once per make run.
STOCK_DIR = $(eval STOCK_DIR := $(shell $(VM)/stock-kernel $(KVER)))$(STOCK_DIR)
DEBUG_DIR = $(eval DEBUG_DIR := $(shell $(VM)/debug-kernel))$(DEBUG_DIR)

# Debian's further kernel lines that atomfs.ko is built and tested for,
# beside the default one (6.1): each is fetched by `stock-kernel LINE`, gets
# its module in build/LINE/kernel (`make module-LINE`) and boots with
# `tools/testing/vm/run --kernel stock-LINE`. Adding a line: see "Supported
# kernels" in Documentation/filesystems/atomfs.rst.
STOCK_LINES := 6.12

# A copy of the module's sources in build/$(1)/kernel, for a build against
# another kernel (kbuild writes its objects beside the sources).
define copy-module-src
	@mkdir -p build/$(1)/kernel
	@ln -sfn $(TOP)/include build/$(1)/include
	@ln -sfn $(TOP)/VERSION build/$(1)/VERSION
	@cp -p kernel/Kbuild kernel/Makefile kernel/probe \
		$(filter-out %/atomfs_probe.h,$(wildcard kernel/*.c kernel/*.h)) \
		build/$(1)/kernel/
endef

# kbuild's objects in parallel, unless make already runs with -j (then
# its jobserver shares out the jobs): 16.7 s against 11.4 s for the 6.12
# module on two cores.
KBUILD_JOBS = $(if $(filter -j% --jobserver%,$(MAKEFLAGS)),,-j$(shell nproc))

all: module userspace selftests

deps:
	@$(TOP)/scripts/deps

# Quietly install what is missing before the two user-facing commands.
deps-if-missing:
	@$(TOP)/scripts/deps >/dev/null || $(TOP)/scripts/deps

module:
	@test -n "$(STOCK_DIR)" || { echo "make: could not unpack the Debian kernel (see above)"; exit 1; }
	$(MAKE) $(KBUILD_JOBS) -C kernel KDIR=$(STOCK_DIR)/kdir

userspace:
	$(MAKE) -C userspace

selftests:
	$(MAKE) -C $(SELFTESTS)

# The debug kernel (KASAN, lockdep, kmemleak, fault injection) and atomfs.ko
# built against it, in build/debug/kernel (a copy: kbuild writes in place).
debug-kernel:
	@test -n "$(DEBUG_DIR)" || { echo "make: the debug kernel build failed (see above)"; exit 1; }
	$(call copy-module-src,debug)
	$(MAKE) $(KBUILD_JOBS) -C build/debug/kernel KDIR=$(DEBUG_DIR)

# atomfs.ko for each further line, and for one of them (module-6.12).
module-lines: $(addprefix module-,$(STOCK_LINES))

module-%:
	$(call copy-module-src,$*)
	@dir=$$($(VM)/stock-kernel $*) || \
		{ echo "make: could not unpack Debian's $* kernel (see above)"; exit 1; }; \
		echo "$(MAKE) $(KBUILD_JOBS) -C build/$*/kernel KDIR=$$dir/kdir"; \
		$(MAKE) $(KBUILD_JOBS) -C build/$*/kernel KDIR=$$dir/kdir

check: deps-if-missing
	$(MAKE) all module-lines debug-kernel fuzz-tools
	$(TOP)/tools/testing/check

# The kernel ioctl fuzzer and the stress run (tools/testing/fuzz/run), on
# the debug kernel, each with a closing kmemleak scan and module unload
# (make fuzz also runs the layer mutation fuzzer for a third of FUZZ_MINUTES):
# make fuzz [FUZZ_MINUTES=30] [FUZZ_SEED=N], make stress [STRESS_MINUTES=10].
# make check runs both for 60 s at once, with a fixed seed, in the debug
# stage's boot.
FUZZ_MINUTES ?= 30
STRESS_MINUTES ?= 10
FUZZ_SEED ?=
fuzz-tools:
	$(MAKE) -C tools/testing/fuzz
	$(MAKE) -C tools/testing/stress

fuzz: deps-if-missing
	$(MAKE) all debug-kernel fuzz-tools
	$(MAKE) -C userspace/fuzz run SECONDS=$$(( $(FUZZ_MINUTES) * 60 / 4 ))
	$(MAKE) -s -C userspace -f Makefile O=$(TOP)/build/userspace/asan SANITIZE=1 tests
	CRASH_POINTS=200 userspace/tests/run-tests $(TOP)/build/userspace/asan userspace/tests/cmd-crash.sh
	$(VM)/run --kernel debug --mem 2048 --timeout $$(( $(FUZZ_MINUTES) * 80 + 1800 )) -- \
		tools/testing/fuzz/run --fuzz $$(( $(FUZZ_MINUTES) * 60 )) \
		--mutate $$(( $(FUZZ_MINUTES) * 20 ))s \
		$(if $(FUZZ_SEED),--seed $(FUZZ_SEED)) --leak-check

stress: deps-if-missing
	$(MAKE) all debug-kernel fuzz-tools
	$(VM)/run --kernel debug --mem 2048 --timeout $$(( $(STRESS_MINUTES) * 60 + 1800 )) -- \
		tools/testing/fuzz/run --stress $$(( $(STRESS_MINUTES) * 60 )) --leak-check

# Benchmarks (tools/testing/bench/run): atomfs against overlayfs over
# loop+squashfs, squashfuse+fuse-overlayfs, a flat image and the image
# writers, in one VM boot; figures, not tests (not part of make check).
# QUICK=1: mount and lookups at 1 and 100 layers, one verification, one build.
# BENCH="mem verify ...": those only (mount4096: 4096 layers, only when named);
# REPS=N repetitions (default 3).
# Output: build/bench/results.json, *.svg, performance.rst, timings.txt.
bench: deps-if-missing
	$(MAKE) all
	QUICK='$(QUICK)' REPS='$(or $(REPS),3)' $(TOP)/tools/testing/bench/run $(BENCH)

demo: deps-if-missing
	$(MAKE) all
	$(TOP)/tools/testing/demo
	$(TOP)/tools/testing/demo-recipe

# make install [DESTDIR=] [PREFIX=/usr/local] [KVER=] [KDIR=] [INSTALL_MOD_PATH=]:
# the module for KVER (default: the running kernel, only if its headers are
# in /lib/modules/KVER/build; else name KVER and KDIR), built in its own copy
# under build/install/, into INSTALL_MOD_PATH (default DESTDIR)
# /lib/modules/KVER/updates, then the userspace (userspace/Makefile).
# make uninstall takes the same variables and removes exactly that.
INSTALL_KVER = $(or $(KVER),$(shell uname -r))
INSTALL_KDIR = $(or $(KDIR),/lib/modules/$(INSTALL_KVER)/build)
INSTALL_MOD_PATH ?= $(DESTDIR)
INSTALL_KO = $(INSTALL_MOD_PATH)/lib/modules/$(INSTALL_KVER)/updates/atomfs.ko
install-module:
	@test -f "$(INSTALL_KDIR)/Makefile" || { echo "make install: no kernel headers for $(INSTALL_KVER) in $(INSTALL_KDIR): install linux-headers-$(INSTALL_KVER), or pass KVER= and KDIR=, or use DKMS (make dkms-install); 'make install-userspace' installs only the tools"; exit 1; }
	@rel=$$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$(INSTALL_KDIR)/include/generated/utsrelease.h"); \
	test "$$rel" = "$(INSTALL_KVER)" || { echo "make install: $(INSTALL_KDIR) is for kernel $$rel, not KVER=$(INSTALL_KVER)"; exit 1; }
	$(call copy-module-src,install/$(INSTALL_KVER))
	$(MAKE) -C build/install/$(INSTALL_KVER)/kernel KDIR=$(INSTALL_KDIR) modules
	$(MAKE) -C build/install/$(INSTALL_KVER)/kernel KDIR=$(INSTALL_KDIR) \
		KERNELRELEASE=$(INSTALL_KVER) INSTALL_MOD_PATH=$(abspath $(INSTALL_MOD_PATH)) modules_install
	@if [ -z "$(INSTALL_MOD_PATH)" ]; then depmod $(INSTALL_KVER); fi

install-userspace:
	$(MAKE) -C userspace install DESTDIR=$(abspath $(DESTDIR))

install: install-module install-userspace

uninstall:
	rm -f $(INSTALL_KO)
	@if [ -z "$(INSTALL_MOD_PATH)" ] && [ -d /lib/modules/$(INSTALL_KVER) ]; then depmod $(INSTALL_KVER); fi
	$(MAKE) -C userspace uninstall DESTDIR=$(abspath $(DESTDIR))

# DKMS on the developer's own host (root): register this tree's module source
# in /usr/src/atomfs-VERSION and build and install it for KVER (default: the
# running kernel; DKMS rebuilds it for new kernels). dkms-uninstall undoes it.
ATOMFS_VERSION := $(shell cat $(TOP)/VERSION)
DKMS_KVER = $(or $(KVER),$(shell uname -r))
dkms-install:
	-dkms remove -m atomfs -v $(ATOMFS_VERSION) --all >/dev/null 2>&1
	dkms add "$$($(TOP)/scripts/dkms-source $(TOP)/build/dkms/src)"
	dkms install -m atomfs -v $(ATOMFS_VERSION) -k $(DKMS_KVER)

dkms-uninstall:
	dkms remove -m atomfs -v $(ATOMFS_VERSION) --all
	rm -rf /usr/src/atomfs-$(ATOMFS_VERSION)

# The Debian packages, built on a git archive copy in build/deb/ and checked.
deb:
	$(TOP)/tools/testing/packaging/deb

clean:
	-$(MAKE) -C kernel KDIR=$(STOCK_DIR)/kdir clean
	-$(MAKE) -C userspace clean
	rm -rf build

.PHONY: all deps deps-if-missing module module-lines userspace selftests \
	debug-kernel check demo bench install clean fuzz fuzz-tools stress
.PHONY: deb dkms-install dkms-uninstall install-module install-userspace uninstall
