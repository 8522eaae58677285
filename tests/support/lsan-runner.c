/*
 * lsan-runner.c: LeakSanitizer stays on in Criterion's test workers and
 * off in its runner process.
 *
 * Every test body runs in a worker that BoxFort starts with BXFI_MAP in
 * its environment; the runner only schedules workers and collects their
 * reports, and Criterion 2.4 leaks there now and then (48 bytes from a
 * calloc inside libcriterion, depending on how the workers' reports
 * interleave: Criterion issues #113, #132, #515).  No code of ours runs
 * in the runner, so turning the check off there hides nothing of ours;
 * a leak in a test or in the code it calls is still reported by the
 * worker and fails the test.
 *
 * Linked into every Criterion binary with -u __lsan_is_turned_off.
 */

#include <stdlib.h>

int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	return getenv("BXFI_MAP") == NULL;
}
