/* secret - the site's secret keys (for unsubscribe and VERP tokens). */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int
secret_load(const char *path, struct secret *s, diag *d)
{
	FILE *fp = fopen(path, "r");
	char line[256];
	int lineno = 0;

	memset(s, 0, sizeof *s);
	if (fp == NULL)
		return diag_set(d, errno == ENOENT ? EX_NOINPUT : EX_NOPERM,
		    "%s: cannot read key file: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (run 'broadside init')" : "");
	while (fgets(line, sizeof line, fp) && s->nkeys < SECRET_MAX_KEYS) {
		struct secret_key *k = &s->keys[s->nkeys];
		long long created;
		char hex[128];

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%lld %127s", &created, hex) != 2 ||
		    strlen(hex) != 2 * SECRET_KEY_LEN)
			goto bad;
		for (int i = 0; i < SECRET_KEY_LEN; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			k->key[i] = (unsigned char)(hi << 4 | lo);
		}
		k->created = created;
		s->nkeys++;
	}
	fclose(fp);
	if (s->nkeys == 0)
		return diag_set(d, EX_DATAERR, "%s: key file holds no key", path);
	return 0;
bad:
	fclose(fp);
	return diag_set(d, EX_DATAERR, "%s:%d: malformed key line (expected "
	    "'<unix time> <64 hex digits>')", path, lineno);
}

static void
key_line(buf *b, int64_t created)
{
	unsigned char key[SECRET_KEY_LEN];

	if (RAND_bytes(key, sizeof key) != 1) {
		fprintf(stderr, "broadside: no random bytes from OpenSSL\n");
		exit(EX_OSERR);
	}
	buf_printf(b, "%lld ", (long long)created);
	for (size_t i = 0; i < sizeof key; i++)
		buf_printf(b, "%02x", key[i]);
	buf_putc(b, '\n');
}

/* Writes the whole file anew, atomically (temp file, fsync, rename). */
static int
write_file(const char *path, buf *content, diag *d)
{
	buf tmp = BUF_INIT;
	int fd, rc = -1;

	buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		diag_set(d, EX_CANTCREAT, "%s: cannot create key file: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, content->data, content->len) != (ssize_t)content->len ||
	    fsync(fd) < 0) {
		diag_set(d, EX_IOERR, "%s: cannot write key file: %s", path, strerror(errno));
		close(fd);
		unlink(buf_cstr(&tmp));
		goto out;
	}
	close(fd);
	if (rename(buf_cstr(&tmp), path) < 0) {
		diag_set(d, EX_CANTCREAT, "%s: %s", path, strerror(errno));
		unlink(buf_cstr(&tmp));
		goto out;
	}
	rc = 0;
out:
	buf_free(&tmp);
	return rc;
}

int
secret_init(const char *path, int *created, diag *d)
{
	struct stat sb;
	buf b = BUF_INIT;
	int rc;

	*created = 0;
	if (stat(path, &sb) == 0) {
		struct secret s;
		if ((sb.st_mode & 077) != 0)
			return diag_set(d, EX_NOPERM, "%s: key file is readable by others "
			    "(mode %03o); chmod 600 it", path, (unsigned)(sb.st_mode & 0777));
		return secret_load(path, &s, d);
	}
	buf_puts(&b, "# Broadside secret keys: newest first. Keep private (0600).\n");
	key_line(&b, clock_now());
	rc = write_file(path, &b, d);
	buf_free(&b);
	if (rc == 0)
		*created = 1;
	return rc;
}

int
secret_rotate(const char *path, diag *d)
{
	struct secret s;
	buf b = BUF_INIT;
	int rc;

	if (secret_load(path, &s, d) < 0)
		return -1;
	buf_puts(&b, "# Broadside secret keys: newest first. Keep private (0600).\n");
	key_line(&b, clock_now());
	for (size_t i = 0; i < s.nkeys && i + 1 < SECRET_MAX_KEYS; i++) {
		buf_printf(&b, "%lld ", (long long)s.keys[i].created);
		for (int j = 0; j < SECRET_KEY_LEN; j++)
			buf_printf(&b, "%02x", s.keys[i].key[j]);
		buf_putc(&b, '\n');
	}
	rc = write_file(path, &b, d);
	buf_free(&b);
	return rc;
}
