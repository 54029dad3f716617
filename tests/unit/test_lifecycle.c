/* The lifecycle rules in code against the tables of the README, which users read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/keys.h"
#include "unit.h"

static char *readme(void)
{
	const char *dir = getenv("HSMGW_SOURCE_DIR") ? getenv("HSMGW_SOURCE_DIR") : ".";
	char path[512];
	snprintf(path, sizeof path, "%s/README.md", dir);
	char *text = file_read_all(path, 1 << 20, NULL);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	return text;
}

START_TEST(test_readme_transition_table_matches_the_code)
{
	char *text = readme();
	for (int a = 0; a < HG_ACT_COUNT; a++) {
		const struct hg_transition *t = keys_transition_of((enum hg_key_action)a);
		char line[512];
		size_t o = (size_t)snprintf(line, sizeof line, "| `%s` | ", t->label);
		for (size_t i = 0; t->from[i]; i++)
			o += (size_t)snprintf(line + o, sizeof line - o, "%s`%s`", i ? ", " : "", t->from[i]);
		snprintf(line + o, sizeof line - o, " | `%s` |", t->to);
		ck_assert_msg(strstr(text, line) != NULL, "README lacks the row: %s", line);
	}
	free(text);
}
END_TEST

START_TEST(test_readme_state_table_matches_the_code)
{
	static const char *states[] = {"pre_active",        "active",   "suspended", "deactivated", "compromised",
				       "destroy_scheduled", "destroyed"};
	char *text = readme();
	for (size_t i = 0; i < sizeof states / sizeof *states; i++) {
		char line[256];
		snprintf(line, sizeof line, "| `%s` | %s | %s |", states[i],
			 keys_state_allows(states[i], true) ? "yes" : "no",
			 keys_state_allows(states[i], false) ? "yes" : "no");
		ck_assert_msg(strstr(text, line) != NULL, "README lacks the row: %s", line);
	}
	free(text);
}
END_TEST

START_TEST(test_no_transition_leaves_destroyed)
{
	for (int a = 0; a < HG_ACT_COUNT; a++)
		ck_assert(!keys_transition_allowed((enum hg_key_action)a, "destroyed"));
}
END_TEST

START_TEST(test_compromised_keys_allow_nothing_but_destruction)
{
	for (int a = 0; a < HG_ACT_COUNT; a++)
		ck_assert_int_eq(keys_transition_allowed((enum hg_key_action)a, "compromised"),
				 a == HG_ACT_SCHEDULE_DESTRUCTION);
	ck_assert(!keys_state_allows("compromised", true));
	ck_assert(!keys_state_allows("compromised", false));
}
END_TEST

Suite *suite_lifecycle(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_readme_transition_table_matches_the_code);
	tcase_add_test(tc, test_readme_state_table_matches_the_code);
	tcase_add_test(tc, test_no_transition_leaves_destroyed);
	tcase_add_test(tc, test_compromised_keys_allow_nothing_but_destruction);
	suite_add_tcase(s, tc);
	return s;
}
