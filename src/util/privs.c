/* Dropping root: after the daemon has bound its port and opened what only root may open, it
 * becomes process.user for good (supplementary groups cleared, group then user, and a check
 * that root cannot be taken back). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "hsmgw/util.h"

bool drop_privileges(const char *user, char *err, size_t len)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[4096];
	if (getpwnam_r(user, &pwbuf, buf, sizeof buf, &pw) != 0 || !pw) {
		snprintf(err, len, "process.user %s: no such user", user);
		return false;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return true; /* already that user */
		snprintf(err, len, "process.user %s: only root can become another user (running as uid %u)", user,
			 (unsigned)geteuid());
		return false;
	}
	/* glibc applies each of these to every thread of the process. */
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		snprintf(err, len, "process.user %s: cannot switch to uid %u: %s", user, (unsigned)pw->pw_uid,
			 strerror(errno));
		return false;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		snprintf(err, len, "process.user %s: root could be taken back", user);
		return false;
	}
	/* A change of user resets the dumpable flag on some kernels: no core dumps, again. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return true;
}
