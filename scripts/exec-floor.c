/* The floor under `berth exec CONTAINER /bin/true` of make bench's
 * sleeper: the kernel's work that any runtime's exec does, in C, with no
 * state or config to read. It joins the container's cgroups (from
 * /proc/PID/cgroup, beneath /sys/fs/cgroup: each v1 hierarchy by writing
 * its tasks file, v2 by cloning into the directory) and its namespaces
 * (those create made, named in MADE, as they are: the others where they
 * differ from ours), sets the config's
 * RLIMIT_NOFILE, bounding set, ids and three capabilities with no new
 * privileges, and runs /bin/true in it, waiting for it like exec does.
 * make bench compiles it (gcc -O2 -static) and times it beside exec, so
 * what the runtimes add on top of the kernel's share shows. Not part of
 * berth. Usage: exec-floor PID [MADE] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floor-privileges.h"

#define MAX_H 32
static char tasks[MAX_H][4200];
static int ntasks, v2 = -1;

/* The tasks files of PID's v1 cgroups, and its v2 directory opened
 * when /sys/fs/cgroup is cgroup v2. */
static void find_cgroups(const char *pid) {
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%s/cgroup", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		die(path);
	close(fd);
	buf[n] = 0;
	for (char *line = buf, *next; *line; line = next) {
		next = strchr(line, '\n');
		next = next ? (*next = 0, next + 1) : line + strlen(line);
		/* ID:CONTROLLERS:PATH; v2's line has no controllers */
		char *ctrl = strchr(line, ':'), *dir = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (!dir)
			continue;
		if (dir == ctrl + 1) {
			char v2dir[4200];
			snprintf(v2dir, sizeof v2dir, "/sys/fs/cgroup%s", dir + 1);
			if (!access("/sys/fs/cgroup/cgroup.controllers", F_OK))
				v2 = open(v2dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			continue;
		}
		*dir++ = 0;
		ctrl++;
		if (!strncmp(ctrl, "name=", 5))
			ctrl += 5;
		if (ntasks < MAX_H)
			snprintf(tasks[ntasks++], sizeof tasks[0], "/sys/fs/cgroup/%s%s/tasks", ctrl, dir);
	}
}

/* Moves the caller into each v1 cgroup. */
static void join_cgroups(void) {
	for (int i = 0; i < ntasks; i++) {
		int t = open(tasks[i], O_WRONLY | O_CLOEXEC);
		if (t < 0 || write(t, "0", 1) != 1)
			die(tasks[i]);
		close(t);
	}
}

/* The namespaces of PID that are not ours: those in `made` (names under
 * /proc/PID/ns, comma-separated: the ones the config lists without a
 * path, which create made for init) without a look, the others where
 * PID's differs from ours. */
static int differing(const char *pid, const char *made) {
	static const struct { const char *name; int flag; } ns[] = {
		{"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC},
		{"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP},
		{"user", CLONE_NEWUSER}, {"time", CLONE_NEWTIME},
	};
	int flags = 0;
	for (unsigned i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		char a[64], b[64];
		struct stat sa, sb;
		size_t n = strlen(ns[i].name);
		const char *m = strstr(made, ns[i].name);
		if (m && (m == made || m[-1] == ',') && (m[n] == ',' || m[n] == 0)) {
			flags |= ns[i].flag;
			continue;
		}
		snprintf(a, sizeof a, "/proc/self/ns/%s", ns[i].name);
		snprintf(b, sizeof b, "/proc/%s/ns/%s", pid, ns[i].name);
		if (!stat(a, &sa) && !stat(b, &sb) && sa.st_ino != sb.st_ino)
			flags |= ns[i].flag;
	}
	return flags;
}

int main(int argc, char **argv) {
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: exec-floor PID [MADE]\n");
		return 2;
	}
	int flags = differing(argv[1], argc == 3 ? argv[2] : "");
	int pidfd = syscall(SYS_pidfd_open, atoi(argv[1]), 0);
	if (pidfd < 0)
		die("pidfd_open");
	/* The pid namespace holds for children: join it before the fork. */
	if ((flags & CLONE_NEWPID) && setns(pidfd, CLONE_NEWPID))
		die("setns pid");
	find_cgroups(argv[1]);
	struct clone_args args = {.exit_signal = SIGCHLD};
	if (v2 >= 0) {
		args.flags = CLONE_INTO_CGROUP;
		args.cgroup = v2;
	}
	pid_t child = syscall(SYS_clone3, &args, sizeof args);
	if (child < 0)
		die("clone3");
	if (child == 0) {
		join_cgroups();
		if ((flags & ~CLONE_NEWPID) && setns(pidfd, flags & ~CLONE_NEWPID))
			die("setns");
		if (chdir("/"))
			die("chdir");
		privileges();
		char *args[] = {"/bin/true", NULL}, *envp[] = {"PATH=/bin", NULL};
		execve(args[0], args, envp);
		die("execve");
	}
	int status = 1;
	waitpid(child, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
