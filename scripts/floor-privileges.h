/* Shared by scripts/run-floor.c and exec-floor.c (make bench's floors):
 * what the bundle's config asks of a process's privileges — its
 * RLIMIT_NOFILE, no new privileges, the bounding set, ids, and the three
 * capabilities `berth spec` keeps. Not part of berth. */
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	_exit(1);
}

static void privileges(void) {
	const unsigned long keep = 1UL << CAP_AUDIT_WRITE | 1UL << CAP_KILL | 1UL << CAP_NET_BIND_SERVICE;
	struct rlimit nofile = {1024, 1024};
	if (setrlimit(RLIMIT_NOFILE, &nofile) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		die("prctl");
	for (int c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (!(keep >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			die("PR_CAPBSET_DROP");
	if (setgroups(0, NULL) || setresgid(0, 0, 0) || setresuid(0, 0, 0))
		die("ids");
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{(unsigned)keep, (unsigned)keep, 0}, {0, 0, 0}};
	if (syscall(SYS_capset, &h, d))
		die("capset");
}
