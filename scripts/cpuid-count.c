/* How many CPUID instructions a program executes, from its execve to its
 * exit: it runs under ptrace one instruction at a time, and each stop
 * looks at the two bytes under the instruction pointer (CPUID is 0F A2).
 * For a program that neither forks nor starts threads; a few seconds for
 * an empty static glibc program (some 33,000 instructions). make bench
 * counts scripts/start-floor.c's with it: glibc's start-up probes the CPU
 * with CPUID, and in a virtual machine each one is a trip to the
 * hypervisor. Not part of berth. Usage: cpuid-count PROGRAM [ARGS...];
 * prints the count. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: cpuid-count PROGRAM [ARGS...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		/* Stops at its execve: the count starts with the new program. */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			execv(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		fprintf(stderr, "cpuid-count: %s did not start\n", argv[1]);
		return 1;
	}
	long count = 0;
	for (;;) {
		struct user_regs_struct regs;
		if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) == 0) {
			long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)regs.rip, NULL);
			if ((word & 0xffff) == 0xa20f)
				count++;
		}
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0 || waitpid(pid, &status, 0) != pid) {
			perror("cpuid-count: ptrace");
			return 1;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
	}
	printf("%ld\n", count);
	return 0;
}
