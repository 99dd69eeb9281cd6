/* The floor under `berth run` of make bench's bundle: the kernel's work
 * that the bundle's config asks of any runtime, in C, with no state, no
 * config to parse and no messages beyond one byte. The config is the one
 * `berth spec` writes (scripts/bundle.sh): a read-only busybox root, new
 * pid, mount, uts, ipc and network namespaces, its six mounts, device
 * nodes and links, masked and read-only paths, three capabilities, an
 * RLIMIT_NOFILE, no new privileges. In cgroup v1 every hierarchy under
 * /sys/fs/cgroup gets a new directory (cpuset's filled in), joined by the
 * init itself; on cgroup v2 one directory, cloned into. Both are removed
 * after the init exits.
 * It arranges the work as berth does where that is faster: on v1 the
 * parent makes the cgroups while the child makes its namespaces.
 * make bench compiles it (gcc -O2 -static) and times it beside run, so
 * what the runtimes add on top of the kernel's share shows. Not part of
 * berth. Usage: run-floor ROOTFS NAME (NAME: the cgroup directories'). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floor-privileges.h"

#define MAX_H 32
static char dirs[MAX_H][512];
static int ndirs, v2;

static int copy_file(const char *from, const char *to) {
	char buf[256];
	int fd = open(from, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return -1;
	fd = open(to, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, buf, n);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Every v1 hierarchy (a directory with a tasks file; links to a
 * combined hierarchy are skipped): NAME beneath it. On cgroup v2, NAME
 * beneath its root. */
static void find_hierarchies(const char *name) {
	if (!access("/sys/fs/cgroup/cgroup.controllers", F_OK)) {
		v2 = 1;
		snprintf(dirs[ndirs++], sizeof dirs[0], "/sys/fs/cgroup/%s", name);
		return;
	}
	DIR *d = opendir("/sys/fs/cgroup");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) && ndirs < MAX_H) {
		char tasks[300];
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(tasks, sizeof tasks, "/sys/fs/cgroup/%s/tasks", e->d_name);
		if (access(tasks, F_OK))
			continue;
		snprintf(dirs[ndirs++], sizeof dirs[0], "/sys/fs/cgroup/%s/%s", e->d_name, name);
	}
	closedir(d);
}

/* 0, or -1 after saying what failed. */
static int make_cgroups(void) {
	static const char *cpuset[] = {"cpuset.cpus", "cpuset.mems"};
	for (int i = 0; i < ndirs; i++) {
		if (mkdir(dirs[i], 0755)) {
			perror(dirs[i]);
			return -1;
		}
		for (int f = 0; f < 2 && strstr(dirs[i], "/cpuset/"); f++) {
			char from[600], to[600];
			snprintf(from, sizeof from, "%s/../%s", dirs[i], cpuset[f]);
			snprintf(to, sizeof to, "%s/%s", dirs[i], cpuset[f]);
			if (copy_file(from, to)) {
				perror(to);
				return -1;
			}
		}
	}
	return 0;
}

static void join_cgroups(void) {
	for (int i = 0; i < ndirs && !v2; i++) {
		char tasks[600];
		snprintf(tasks, sizeof tasks, "%s/tasks", dirs[i]);
		int fd = open(tasks, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			die(tasks);
		close(fd);
	}
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
	if (mount(src, dst, type, flags, data))
		die(dst);
}

static void mounts(void) {
	mnt("proc", "proc", "proc", 0, NULL);
	mnt("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	mkdir("dev/pts", 0755);
	mnt("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	mkdir("dev/shm", 0755);
	mnt("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	mkdir("dev/mqueue", 0755);
	mnt("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mnt("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	static const struct { const char *name; int major, minor; } nodes[] = {
		{"dev/null", 1, 3}, {"dev/zero", 1, 5}, {"dev/full", 1, 7},
		{"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0},
	};
	for (unsigned i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
		if (mknod(nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)))
			die(nodes[i].name);
	static const char *links[][2] = {
		{"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"}, {"/proc/self/fd/1", "dev/stdout"},
		{"/proc/self/fd/2", "dev/stderr"}, {"pts/ptmx", "dev/ptmx"},
	};
	for (unsigned i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i][0], links[i][1]))
			die(links[i][1]);
}

/* After pivot_root: read-only and masked paths, those that exist. */
static void paths(void) {
	static const char *ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
	static const char *masked[] = {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/sys/firmware", "/proc/scsi"};
	struct stat st;
	for (unsigned i = 0; i < sizeof ro / sizeof ro[0]; i++) {
		if (stat(ro[i], &st))
			continue;
		mnt(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL);
		mnt(NULL, ro[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
	}
	for (unsigned i = 0; i < sizeof masked / sizeof masked[0]; i++) {
		if (stat(masked[i], &st))
			continue;
		if (S_ISDIR(st.st_mode))
			mnt("tmpfs", masked[i], "tmpfs", MS_RDONLY, NULL);
		else
			mnt("/dev/null", masked[i], NULL, MS_BIND, NULL);
	}
}

static int init(const char *rootfs, int made) {
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET))
		die("unshare");
	char c;
	if (read(made, &c, 1) != 1)
		_exit(1);
	join_cgroups();
	if (sethostname("berth", 5))
		die("hostname");
	mnt(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
	mnt(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL);
	if (chdir(rootfs))
		die(rootfs);
	mounts();
	if (syscall(SYS_pivot_root, ".", "."))
		die("pivot_root");
	mnt(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL);
	if (umount2(".", MNT_DETACH) || chdir("/"))
		die("old root");
	paths();
	mnt(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
	if (setsid() < 0)
		die("setsid");
	privileges();
	char *argv[] = {"/bin/true", NULL}, *envp[] = {"PATH=/bin", NULL};
	execve(argv[0], argv, envp);
	die("execve");
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: run-floor ROOTFS NAME\n");
		return 2;
	}
	find_hierarchies(argv[2]);
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		die("pipe");
	/* fork's semantics in a new pid namespace; on v2 into the cgroup,
	 * made first */
	struct clone_args args = {.flags = CLONE_NEWPID, .exit_signal = SIGCHLD};
	int made = 1;
	if (v2) {
		made = make_cgroups() == 0;
		args.cgroup = open(dirs[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
		args.flags |= made && (int)args.cgroup >= 0 ? CLONE_INTO_CGROUP : 0;
	}
	pid_t pid = syscall(SYS_clone3, &args, sizeof args);
	if (pid < 0)
		die("clone3");
	if (pid == 0) {
		close(p[1]);
		return init(argv[1], p[0]);
	}
	close(p[0]);
	/* On a failure the pipe closes empty and the child exits. */
	made = made && (v2 || make_cgroups() == 0) && write(p[1], "", 1) == 1;
	close(p[1]);
	int status = 1;
	waitpid(pid, &status, 0);
	for (int i = 0; i < ndirs; i++)
		if (rmdir(dirs[i]) && errno != ENOENT)
			perror(dirs[i]);
	return made && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
