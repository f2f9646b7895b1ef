// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit test: the exported API never aborts when memory runs out.  Every
 * allocation libatomfs makes (malloc, calloc, realloc, strdup, strndup,
 * vasprintf: linked with --wrap, see the Makefile) is made to fail in
 * turn, the Nth one in run N, until a run sees no failure; each call must
 * then give its normal result or -ENOMEM, and ASan must see no leak.
 * The same walk goes through the layer writer (a build from a directory,
 * an import of a tar with whiteouts, hard links and xattrs) and a pull
 * from a registry (tests/static-registry.py serving a layout): manifest,
 * config and layer fetched, parsed, checked and stored.  And a recipe
 * build, `atomfs build -f` (tools/cmd-recipe.c and the tool code it uses
 * are linked in): recipe parsed, inputs hashed (a tar, an imported
 * directory), plan made, four stanzas built from a tar, a layout, a built
 * stanza and two applied ones, and tagged; there each failure must end
 * in -ENOMEM (cmd_fail() is wrapped to see it) with a one-line message,
 * and nothing tagged.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libatomfs.h"
#include "mount.h"
#include "input.h"
#include "oci.h"
#include "registry.h"
#include "squashfs.h"
#include "tap.h"

static long alloc_count, fail_at = -1;
static int injected;

/* as malloc does, a failure sets errno to ENOMEM */
static int should_fail(void)
{
	if (++alloc_count == fail_at) {
		injected = 1;
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
int __real___vasprintf_chk(char **out, int flag, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap___vasprintf_chk(char **out, int flag, const char *fmt, va_list ap);

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t sz)
{
	return should_fail() ? NULL : __real_calloc(n, sz);
}
void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail() ? NULL : __real_strndup(s, n);
}
int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	return should_fail() ? -1 : __real_vasprintf(out, fmt, ap);
}
int __wrap___vasprintf_chk(char **out, int flag, const char *fmt, va_list ap)
{
	return should_fail() ? -1 : __real___vasprintf_chk(out, flag, fmt, ap);
}

static char dir[] = "/tmp/atomfs-unit-alloc.XXXXXX";

/* one pass through the exported API; results in r[] */
static void run(int *r)
{
	struct atomfs_mount_opts o = { 0 };
	struct atomfs_image_info *info = NULL;
	struct atomfs_ref ref;
	char path[512];
	json_t *st = NULL;

	snprintf(path, sizeof(path), "oci:%s/L:t", dir);
	r[0] = atomfs_ref_parse(path, &ref);
	if (!r[0])
		atomfs_ref_free(&ref);
	r[1] = atomfs_resolve(path, &info);
	snprintf(path, sizeof(path), "%s/pub.pem", dir);
	r[2] = info ? atomfs_verify_signature(info, path) : 0;
	atomfs_image_info_free(info);
	r[3] = atomfs_mount_opts_parse(&o, "nosuid,writable,pubkey=/x,dev");
	atomfs_mount_opts_free(&o);
	/* the policy is read, the signature checked, then the module is
	 * looked for: -f keeps it from mounting anything */
	o.fake = true;
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	o.policy = path;
	{
		char ref2[512], target[512];

		snprintf(ref2, sizeof(ref2), "%s/L:t", dir);
		snprintf(target, sizeof(target), "%s/mnt", dir);
		r[4] = atomfs_mount(ref2, target, &o);
		r[5] = atomfs_status(target, &st);
	}
	json_decref(st);
}

/* fail each allocation in turn; strict: only -ENOMEM or the normal result */
static void fail_all(const int *base, const char *whose, int strict, long step)
{
	int got[6], i, bad = 0;
	long n, runs = 0;

	for (n = 1; n < 100000; n += step) {
		alloc_count = 0;
		fail_at = n;
		injected = 0;
		run(got);
		fail_at = -1;
		runs++;
		if (!injected)
			break;
		for (i = 0; i < 6; i++) {
			if (got[i] == base[i] || got[i] == -ENOMEM ||
			    (!strict && got[i] < 0 && *atomfs_last_error()))
				continue;
			if (bad++ < 10)
				tap_diag(
					"allocation %ld failed: call %d gave %d, not %d or -ENOMEM",
					n, i, got[i], base[i]);
		}
	}
	ok(runs > 20 && !injected,
	   "alloc: %ld of %s allocations were made to fail in turn", runs - 1,
	   whose);
	ok(!bad, "alloc: ... each time the calls gave %s (%d did not)",
	   strict ? "-ENOMEM or the normal result" :
		    "an error with a message or the normal result",
	   bad);
}

/* ---- the layer writer and the registry, one operation per walk ---- */

static char sq[600], regref[600], pulldir[600];
static char recipe[600], recipe_out[600], recipe_build[600];
static char recipe_seed[600]; /* copied to recipe_out before each run, if set */
static char shm[] = "/dev/shm/atomfs-unit-alloc.XXXXXX";
static bool have_shm;

static int op_build(const char *input, bool whiteouts)
{
	struct atomfs_input_opts io = { .whiteouts = whiteouts };
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_GZIP, .threads = 1 };

	return atomfs_build_layer(input, &io, &so, sq);
}

static int op_build_dir(void)
{
	char in[600];

	snprintf(in, sizeof(in), "%s/tree", dir);
	return op_build(in, false);
}

static int op_import_tar(void)
{
	char in[600];

	snprintf(in, sizeof(in), "%s/layer.tar", dir);
	return op_build(in, true);
}

static int op_pull(void)
{
	struct atomfs_registry_opts ro = { .tls_verify = false };
	struct atomfs_registry *reg = NULL;
	struct atomfs_layout *l = NULL;
	struct atomfs_xfer_stats st = { 0 };
	struct atomfs_rref rr;
	char *digest = NULL;
	int err;

	err = atomfs_rref_parse(regref, &rr);
	if (err)
		return err;
	err = atomfs_registry_open(&rr, &ro, &reg);
	if (!err)
		err = atomfs_layout_open(
			pulldir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE,
			&l);
	if (!err && l->created)
		err = atomfs_layout_write_index(l);
	if (!err)
		err = atomfs_registry_pull(reg, rr.tag, l, "t", &digest, &st);
	free(digest);
	atomfs_layout_close(l);
	atomfs_registry_close(reg);
	atomfs_rref_free(&rr);
	return err;
}

/* tools/cmd-recipe.c: `atomfs build -f RECIPE` */
int cmd_build_recipe(int argc, char **argv);

/*
 * The error a command failed with (tools/common.c turns it into a
 * status); the message it prints goes to /dev/null, so that hundreds of
 * failed runs stay quiet while a sanitizer's report still shows.
 */
static int cmd_failed_with;
int __real_cmd_fail(int err);
int __wrap_cmd_fail(int err);
int __wrap_cmd_fail(int err)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY), rc;

	cmd_failed_with = err;
	fflush(stderr);
	dup2(null, 2);
	rc = __real_cmd_fail(err);
	dup2(saved, 2);
	close(saved);
	close(null);
	return rc;
}

/*
 * A recipe build (-q): 0, or the error it failed with when it said so in
 * one line; else 1 (a failure without a message, a message of several
 * lines, or an exit status without a cmd_fail()).
 */
static int op_recipe(void)
{
	char a0[] = "build", a1[] = "-f", a3[] = "-o", a5[] = "--build-dir",
	     a7[] = "-q";
	char *argv[] = { a0, a1,	   recipe, a3,	recipe_out,
			 a5, recipe_build, a7,	   NULL };
	const char *msg;
	int rc;

	atomfs_clear_error();
	cmd_failed_with = 0;
	rc = cmd_build_recipe(8, argv);
	if (!rc)
		return 0;
	msg = atomfs_last_error();
	return cmd_failed_with && *msg && !strchr(msg, '\n') ? cmd_failed_with :
							       1;
}

/* all four stanzas tagged after a build, none after a failed one */
static bool recipe_tags(int got)
{
	char path[700];
	json_t *idx;
	size_t n;

	snprintf(path, sizeof(path), "%s/index.json", recipe_out);
	idx = json_load_file(path, 0, NULL);
	n = json_array_size(json_object_get(idx, "manifests"));
	json_decref(idx);
	if (n == (got ? 0 : 4))
		return true;
	tap_diag("recipe build gave %d (%s) and left %zu tags", got,
		 got ? atomfs_last_error() : "", n);
	return false;
}

/* the index of a layout, or NULL */
static char *index_of(const char *layout)
{
	char path[700], *text = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/index.json", layout);
	f = fopen(path, "r");
	if (f && getdelim(&text, &n, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	if (f)
		fclose(f);
	return text;
}

/* a rebuild over the seed: a failed one leaves its index as it was, a
 * successful one changes it (one stanza rebuilt, two swapped) */
static bool recipe_rolled_back(int got)
{
	char *was = index_of(recipe_seed), *is = index_of(recipe_out);
	bool same = was && is && !strcmp(was, is), good = got ? same : !same;

	if (!good)
		tap_diag("recipe rebuild gave %d (%s) and %s the index", got,
			 got ? atomfs_last_error() : "",
			 same ? "did not change" : "changed");
	free(was);
	free(is);
	return good && recipe_tags(0);
}

/* tools/common.c, linked in for the recipe walks */
int rm_tree(const char *p);

static void reset_outputs(void)
{
	const char *outs[] = { sq, pulldir, recipe_out, recipe_build };
	char cmd[2000];
	size_t i;

	/* in process: a walk resets them after each of its hundreds of runs */
	for (i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
		if (outs[i][0] && rm_tree(outs[i]))
			tap_diag("cannot remove %s", outs[i]);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", recipe_seed, recipe_out);
	if (recipe_seed[0] && system(cmd))
		tap_diag("cannot copy %s", recipe_seed);
}

/* op must succeed, then fail only with -ENOMEM (or succeed) under every
 * allocation failure in turn; ASan checks the error paths for leaks.
 * check (may be NULL): what op left behind is right for its result. */
static void walk(const char *what, int (*op)(void), bool (*check)(int got))
{
	long n, runs = 0, bad = 0;
	int base, got;

	reset_outputs();
	base = op();
	reset_outputs();
	if (!ok(base == 0, "alloc: %s succeeds without failures (%d: %s)", what,
		base, base ? atomfs_last_error() : ""))
		return;
	for (n = 1; n < 100000; n++) {
		alloc_count = 0;
		fail_at = n;
		injected = 0;
		got = op();
		fail_at = -1;
		if (check && !check(got))
			bad++;
		reset_outputs();
		runs++;
		if (!injected)
			break;
		if (got == base || got == -ENOMEM)
			continue;
		if (bad++ < 10)
			tap_diag(
				"%s: allocation %ld failed: gave %d (%s), not 0 or -ENOMEM",
				what, n, got, atomfs_last_error());
	}
	ok(runs > 10 && !injected,
	   "alloc: %s: each of its %ld allocations was made to fail in turn",
	   what, runs - 1);
	ok(!bad,
	   "alloc: %s: ... each time it gave -ENOMEM or succeeded (%ld did not)",
	   what, bad);
}

/* tests/static-registry.py serving layout L; its pid, or -1 */
static pid_t serve(const char *tests, char *port, size_t portsz)
{
	char script[600], layout[600];
	int p[2];
	pid_t pid;
	FILE *f;

	snprintf(script, sizeof(script), "%s/static-registry.py", tests);
	snprintf(layout, sizeof(layout), "%s/L", dir);
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execlp("python3", "python3", script, layout, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (pid < 0 || !f || !fgets(port, (int)portsz, f)) {
		if (f)
			fclose(f);
		if (pid > 0) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	fclose(f);
	port[strcspn(port, "\n")] = '\0';
	return pid;
}

/*
 * atomfs_layout_set_tag under jansson's allocation failures: it fails with
 * -ENOMEM and the old tag stays, or it succeeds and the tag names the new
 * descriptor. (It once removed the old entry first and ignored the rest:
 * the tag vanished and it returned 0.)
 */
static void set_tag_walk(const char *top)
{
	char path[512];
	long n, runs = 0;
	int bad = 0;

	snprintf(path, sizeof(path), "%s/L", top);
	json_set_alloc_funcs(__wrap_malloc, free);
	for (n = 1; n < 1000; n++) {
		struct atomfs_layout *l = NULL;
		json_t *d, *fresh;
		int err;

		if (atomfs_layout_open(path, ATOMFS_LAYOUT_WRITE, &l)) {
			bad++;
			break;
		}
		fresh = json_pack("{s:s, s:s, s:i}", "mediaType", "x", "digest",
				  "sha256:0000", "size", 1);
		alloc_count = 0;
		fail_at = n;
		injected = 0;
		err = atomfs_layout_set_tag(l, "t", fresh);
		fail_at = -1;
		runs++;
		if (atomfs_layout_get_tag(l, "t", &d) ||
		    (err == 0) != !strcmp(atomfs_desc_str(d, "digest"),
					  "sha256:0000") ||
		    (err && err != -ENOMEM)) {
			if (bad++ < 5)
				tap_diag(
					"set_tag with allocation %ld failing: %d, tag %s",
					n, err,
					atomfs_layout_get_tag(l, "t", &d) ?
						"gone" :
						atomfs_desc_str(d, "digest"));
		}
		atomfs_layout_close(
			l); /* not written: the next run sees the old */
		if (!injected)
			break;
	}
	json_set_alloc_funcs(__real_malloc, free);
	ok(!bad && runs > 1,
	   "alloc: set_tag keeps the old tag or sets the new one (%ld runs)",
	   runs);
}

int main(void)
{
	char cmd[4096];
	int base[6];

	if (!mkdtemp(dir))
		return 1;
	snprintf(
		cmd, sizeof(cmd),
		"cd %s && mkdir in mnt && echo x >in/f && "
		"openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null && "
		"openssl pkey -in key.pem -pubout -out pub.pem && "
		"atomfs build -q --layer in --sign key.pem L:t && "
		"echo '{\"require_signature\": true, \"trusted_keys\": [\"%s/pub.pem\"]}' >policy.json",
		dir, dir);
	if (!ok(system(cmd) == 0, "alloc: a signed image to work on"))
		return 1;
	run(base);
	ok(base[0] == 0 && base[1] == 0 && base[2] == 0 && base[3] == 0,
	   "alloc: without failures the calls succeed (mount: %d, status: %d)",
	   base[4], base[5]);
	fail_all(base, "libatomfs's", 1, 1);
	/*
	 * jansson's too: it reports running out of memory as a parse error
	 * (often without json_error_out_of_memory), so the library cannot
	 * always say -ENOMEM then; it must still fail cleanly, never abort,
	 * crash or leak.
	 */
	json_set_alloc_funcs(__wrap_malloc, free);
	fail_all(base, "libatomfs's and jansson's (every third)", 0, 3);
	/* (in this file "malloc" is __wrap_malloc: --wrap renames it) */
	json_set_alloc_funcs(__real_malloc, free);
	set_tag_walk(dir);

	/* the layer writer: a directory and a tar, each feature on its path;
	 * outputs on tmpfs if there is one: a pull fsyncs a dozen times, and
	 * every allocation failing in turn means a hundred pulls */
	have_shm = mkdtemp(shm) != NULL;
	snprintf(sq, sizeof(sq), "%s/out.sqfs", have_shm ? shm : dir);
	snprintf(pulldir, sizeof(pulldir), "%.*s/pulled",
		 (int)(strrchr(sq, '/') - sq), sq);
	snprintf(
		cmd, sizeof(cmd),
		"cd %s && mkdir -p tree/d/e && echo a >tree/f && ln tree/f tree/d/hard && "
		"ln -s f tree/link && mkfifo tree/fifo && echo b >tree/d/e/g && "
		"python3 -c '\n"
		"import io, tarfile\n"
		"t = tarfile.open(\"layer.tar\", \"w\", format=tarfile.PAX_FORMAT)\n"
		"def add(name, type=tarfile.REGTYPE, data=b\"\", **kw):\n"
		"    i = tarfile.TarInfo(name); i.type = type; i.size = len(data); i.mode = 0o755 if type == tarfile.DIRTYPE else 0o644\n"
		"    for k, v in kw.items(): setattr(i, k, v)\n"
		"    t.addfile(i, io.BytesIO(data))\n"
		"add(\"./\", tarfile.DIRTYPE)\n"
		"add(\"a/\", tarfile.DIRTYPE)\n"
		"add(\"a/f\", data=b\"x\" * 5000, pax_headers={\"SCHILY.xattr.user.k\": \"v\"})\n"
		"add(\"a/h\", tarfile.LNKTYPE, linkname=\"a/f\")\n"
		"add(\"a/l\", tarfile.SYMTYPE, linkname=\"f\")\n"
		"add(\"b/.wh..wh..opq\")\n"
		"add(\".wh.gone\")\n"
		"add(\"deep/er/file\", data=b\"y\")\n"
		"t.close()\n'",
		dir);
	if (ok(system(cmd) == 0,
	       "alloc: a directory and a tar to build from")) {
		walk("a build from a directory", op_build_dir, NULL);
		walk("an import of a tar", op_import_tar, NULL);
	}

	/* a recipe: a tar, a layout built from a directory, an import, a
	 * built base and two applied stanzas (no run steps: no runtime) */
	snprintf(recipe, sizeof(recipe), "%s/atomfs.yaml", dir);
	snprintf(recipe_out, sizeof(recipe_out), "%s/roci",
		 have_shm ? shm : dir);
	snprintf(recipe_build, sizeof(recipe_build), "%s/rbuild",
		 have_shm ? shm : dir);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir -p imp/sub && echo i >imp/sub/i && "
		 "ln -s i imp/sub/l && atomfs build -q --layer tree src:t && "
		 "cat >atomfs.yaml <<'EOF'\n"
		 "base:\n"
		 "  from: {type: tar, url: layer.tar}\n"
		 "  imports: [imp, layer.tar]\n"
		 "  environment: {A: \"1\"}\n"
		 "lib:\n"
		 "  from: {type: oci, url: \"src:t\"}\n"
		 "app:\n"
		 "  from: {type: built, tag: base}\n"
		 "  apply: [lib]\n"
		 "  labels: {x: y}\n"
		 "  cmd: \"sh -c 'echo hi'\"\n"
		 "both:\n"
		 "  from: {type: scratch}\n"
		 "  apply: [base, lib]\n"
		 "  apply_conflicts: [\"/d/*\"]\n"
		 "EOF\n",
		 dir);
	if (ok(system(cmd) == 0, "alloc: a recipe to build"))
		walk("a recipe build (parse, plan, four stanzas)", op_recipe,
		     recipe_tags);
	/* the same over its last output, after lib's source changed: base
	 * reused, lib rebuilt, app and both get lib's new layer swapped in */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && atomfs build -q -f atomfs.yaml -o '%s/rseed' "
		 "--build-dir rb && mkdir tree2 && echo z >tree2/z && "
		 "atomfs build -q --layer tree2 src:t",
		 dir, have_shm ? shm : dir);
	if (ok(system(cmd) == 0,
	       "alloc: a recipe built, then a source changed")) {
		snprintf(recipe_seed, sizeof(recipe_seed), "%s/rseed",
			 have_shm ? shm : dir);
		walk("a recipe rebuild (reuse, rebuild, swap)", op_recipe,
		     recipe_rolled_back);
		recipe_seed[0] = '\0';
	}

	/* a pull: the registry serves L:t over loopback */
	{
		const char *tests = getenv("ATOMFS_TESTS");
		char src[] = __FILE__, port[32];
		pid_t pid;

		if (!tests)
			tests = dirname(src);
		pid = serve(tests, port, sizeof(port));
		if (ok(pid > 0, "alloc: a registry serving the image (port %s)",
		       pid > 0 ? port : "none")) {
			snprintf(regref, sizeof(regref),
				 "docker://127.0.0.1:%s/test/img:t", port);
			walk("a pull from a registry (manifest, config, layer)",
			     op_pull, NULL);
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, have_shm ? shm : "");
	if (system(cmd))
		return 1;
	return tap_failed ? 1 : 0;
}
