// SPDX-License-Identifier: GPL-2.0-or-later
/* download.c: a recipe's http(s) imports, fetched into the build directory */
#include <curl/curl.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "download.h"
#include "internal.h"

/* partial files left by an earlier, killed download of @dest */
static void remove_parts(const char *dest)
{
	cleanup_free char *pat = atomfs_asprintf("%s.part.*", dest);
	glob_t g;
	size_t i;

	/* without memory they stay: the next download removes them */
	if (!pat || glob(pat, GLOB_NOSORT, NULL, &g))
		return;
	for (i = 0; i < g.gl_pathc; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
}

/*
 * Fetch @url into @dest (replaced atomically, only once complete): http
 * and https only, also across redirects (at most 5); the server's TLS
 * certificate is checked, and an https URL is not redirected to http; an
 * HTTP error status fails, as does a transfer that stalls (under 1 KiB/s
 * for 60 s) or grows past DOWNLOAD_MAX_BYTES. 0 or -errno with a message.
 */
int download_file(const char *url, const char *dest)
{
	cleanup_free char *tmp = atomfs_asprintf("%s.part.XXXXXX", dest);
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *c;
	FILE *f;
	int fd, err = 0;

	if (!tmp)
		return atomfs_err(ENOMEM, "out of memory while downloading %s",
				  url);
	remove_parts(dest);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return atomfs_err(errno, "cannot create %s: %m", tmp);
	/* readable in the run like any imported file, whoever runs the step */
	if (fchmod(fd, 0644)) {
		err = atomfs_err(errno, "%s: %m", tmp);
		close(fd);
		goto out;
	}
	f = fdopen(fd, "wb");
	if (!f) {
		err = atomfs_err(errno, "%s: %m", tmp);
		close(fd);
		goto out;
	}
	c = curl_easy_init();
	if (!c) {
		err = atomfs_err(ENOMEM, "cannot start a download of %s", url);
		fclose(f);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* an https URL is not redirected to plain http */
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
			 str_has_prefix(url, "https://") ? "https" :
							   "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)DOWNLOAD_MAX_BYTES);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "atomfs/" ATOMFS_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (fclose(f) && rc == CURLE_OK)
		err = atomfs_err(errno, "writing %s: %m", tmp);
	if (rc != CURLE_OK) {
		if (rc == CURLE_FILESIZE_EXCEEDED)
			err = atomfs_err(
				EFBIG,
				"cannot download %s: larger than %llu bytes",
				url, DOWNLOAD_MAX_BYTES);
		else if (rc == CURLE_HTTP_RETURNED_ERROR)
			err = atomfs_err(EIO,
					 "cannot download %s: HTTP status %ld",
					 url, status);
		else
			err = atomfs_err(EIO, "cannot download %s: %s", url,
					 errbuf[0] ? errbuf :
						     curl_easy_strerror(rc));
	}
	if (!err && rename(tmp, dest))
		err = atomfs_err(errno, "cannot rename %s to %s: %m", tmp,
				 dest);
out:
	if (err)
		unlink(tmp);
	return err;
}
