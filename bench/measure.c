/*
 * measure.c: run a command with standard input from a file, N times in a
 * row, and print one line per run:
 *
 *	wall_us cpu_us maxrss_kib exit_status
 *
 * wall: fork to exit (the command delivers synchronously, so this is "wall
 * to exit delivered"); cpu: user + system of the command and of the
 * descendants it waited for; maxrss: the command's own peak RSS.
 *
 *	measure [-n N] [-q] -i FILE -- command [args...]
 *
 * -q prints only a last line "total_wall_us runs failures".
 * Standard output and error of the command go to /dev/null.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

int main(int argc, char **argv)
{
	int n = 1, quiet = 0, opt;
	const char *input = "/dev/null";

	while ((opt = getopt(argc, argv, "+n:qi:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'q': quiet = 1; break;
		case 'i': input = optarg; break;
		default:
			fprintf(stderr, "usage: measure [-n N] [-q] -i FILE "
			    "-- command [args...]\n");
			return 64;
		}
	}
	if (optind >= argc || n < 1) {
		fprintf(stderr, "measure: no command\n");
		return 64;
	}
	long long total0 = now_us();
	int failures = 0;
	for (int i = 0; i < n; i++) {
		struct rusage before, ru;
		getrusage(RUSAGE_CHILDREN, &before);
		long long t0 = now_us();
		pid_t pid = fork();
		if (pid == 0) {
			int fd = open(input, O_RDONLY);
			int nul = open("/dev/null", O_WRONLY);
			if (fd < 0 || nul < 0)
				_exit(127);
			dup2(fd, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			execvp(argv[optind], argv + optind);
			_exit(127);
		}
		int st;
		if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) {
			perror("measure");
			return 71;
		}
		long long wall = now_us() - t0;
		struct rusage after;
		getrusage(RUSAGE_CHILDREN, &after);
		long long cpu = tv_us(after.ru_utime) + tv_us(after.ru_stime) -
		    tv_us(before.ru_utime) - tv_us(before.ru_stime);
		int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (rc != 0)
			failures++;
		if (!quiet)
			printf("%lld %lld %ld %d\n", wall, cpu, ru.ru_maxrss,
			    rc);
	}
	if (quiet)
		printf("%lld %d %d\n", now_us() - total0, n, failures);
	return failures ? 1 : 0;
}
