/*
 * replay.c: a main() for the libFuzzer targets when built without
 * libFuzzer (make check): runs LLVMFuzzerTestOneInput on every file named
 * on the command line, or on every file in the directories named, so the
 * committed corpus is a regression suite.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
run_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	LLVMFuzzerTestOneInput(data, got);
	free(data);
	return 0;
}

int
main(int argc, char *argv[])
{
	int i, nfiles = 0, failed = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += run_file(argv[i]) != 0;
			nfiles++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			failed++;
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    de->d_name);
			failed += run_file(path) != 0;
			nfiles++;
		}
		closedir(d);
	}
	printf("replay: %d inputs, %d unreadable\n", nfiles, failed);
	return failed ? 1 : 0;
}
