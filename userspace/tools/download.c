// SPDX-License-Identifier: GPL-2.0-or-later
/* download.c: a recipe's http(s) imports, fetched into the build directory */
#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "download.h"
#include "internal.h"

/*
 * Fetch @url into @dest (replaced atomically, only once complete): http
 * and https only, also across redirects (at most 5); the server's TLS
 * certificate is checked; an HTTP error status fails; a transfer that
 * stalls (under 1 byte/s for 60 s) fails. 0 or -errno with a message.
 */
int download_file(const char *url, const char *dest)
{
	cleanup_free char *tmp = xasprintf("%s.part.XXXXXX", dest);
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *c;
	FILE *f;
	int fd, err = 0;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return atomfs_err(errno, "cannot create %s: %m", tmp);
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
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "atomfs/" ATOMFS_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (fclose(f) && rc == CURLE_OK)
		err = atomfs_err(errno, "writing %s: %m", tmp);
	if (rc != CURLE_OK) {
		if (rc == CURLE_HTTP_RETURNED_ERROR)
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
