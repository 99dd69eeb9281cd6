/* The floor under starting any process that make bench times: an empty
 * program, from execve to exit. Built twice: with glibc (gcc -O2 -static),
 * as berth, crun, runc and the other floors start, and with no C library
 * at all (-nostdlib -DNO_LIBC: a bare entry that exits). What lies between
 * the two is glibc's own start-up, nearly all of it the CPU probe glibc
 * runs before main: CPUID for the features and, on Intel, for each cache
 * level and property, about seventy CPUID instructions. On bare metal
 * that is microseconds; in a virtual machine each CPUID is a trip to the
 * hypervisor. With the argument "cpuid", the glibc build prints what one
 * trip costs here (microseconds, the median of 31 rounds of 64).
 * Every run and every exec pays it twice: the runtime's own start, and
 * the container's /bin/true (init is a clone, no start). Not part of berth.
 * Usage: start-floor [cpuid] */
#ifdef NO_LIBC
void _start(void) {
	__asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall");
}
#else
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int by_value(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "cpuid"))
		return 0;
	enum { ROUNDS = 31, PER = 64 };
	double us[ROUNDS];
	for (int r = 0; r < ROUNDS; r++) {
		struct timespec a, b;
		unsigned eax, ebx, ecx, edx;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < PER; i++)
			__cpuid_count(4, i & 3, eax, ebx, ecx, edx);
		clock_gettime(CLOCK_MONOTONIC, &b);
		us[r] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / PER;
	}
	qsort(us, ROUNDS, sizeof us[0], by_value);
	printf("%.2f\n", us[ROUNDS / 2]);
	return 0;
}
#endif
