/* Dropping root (process.user). Each test runs in its own forked process (Check's fork mode),
 * so the process that drops its privileges is thrown away afterwards. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsmgw/util.h"
#include "unit.h"

START_TEST(test_root_becomes_the_user_for_good)
{
	if (geteuid() != 0) {
		char err[256];
		ck_assert(!drop_privileges("root", err, sizeof err));
		ck_assert_msg(strstr(err, "only root"), "%s", err);
		return;
	}
	struct passwd *pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	char err[256] = "";
	ck_assert_msg(drop_privileges("nobody", err, sizeof err), "%s", err);
	ck_assert_uint_eq(getuid(), uid);
	ck_assert_uint_eq(geteuid(), uid);
	ck_assert_uint_eq(getgid(), gid);
	ck_assert_uint_eq(getegid(), gid);
	ck_assert_int_eq(getgroups(0, NULL), 0);
	ck_assert_int_ne(setuid(0), 0); /* root cannot be taken back */
	/* Once dropped, asking again for the same user is fine; another is refused. */
	ck_assert(drop_privileges("nobody", err, sizeof err));
	ck_assert(!drop_privileges("root", err, sizeof err));
}
END_TEST

START_TEST(test_an_unknown_user_is_refused_by_name)
{
	char err[256] = "";
	ck_assert(!drop_privileges("no-such-user-hsmgw", err, sizeof err));
	ck_assert_msg(strstr(err, "no-such-user-hsmgw") && strstr(err, "no such user"), "%s", err);
}
END_TEST

Suite *suite_privs(void)
{
	Suite *s = suite_create("privs");
	TCase *tc = tcase_create("drop");
	tcase_add_test(tc, test_root_becomes_the_user_for_good);
	tcase_add_test(tc, test_an_unknown_user_is_refused_by_name);
	suite_add_tcase(s, tc);
	return s;
}
