/* test_gw_coap.c - libcoap's log through ours (gw_coap.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "gw.h"
#include "lwm2m_log.h"

/* what gw_coap_log wrote on stderr for (level, message), at our level
 * ours, into out (the line without its timestamp) */
static void
logged(int ours, coap_log_t level, const char *message, char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char line[1024] = "";
	const char *rest;

	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	lwm2m_log_init("coap-gw", ours);
	gw_coap_log(level, message);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	rewind(tmp);
	if (fgets(line, sizeof line, tmp) == NULL) {
		line[0] = '\0';
	}
	ck_assert_int_eq(fgetc(tmp), EOF); /* one line at most */
	fclose(tmp);
	rest = strchr(line, ' ');
	snprintf(out, size, "%s", rest != NULL ? rest + 1 : line);
}

START_TEST(test_gw_coap_log_level_map)
{
	ck_assert_int_eq(gw_coap_log_level(LOG_EMERG, "x"), LWM2M_LOG_WARNING);
	ck_assert_int_eq(gw_coap_log_level(LOG_CRIT, "x"), LWM2M_LOG_WARNING);
	ck_assert_int_eq(gw_coap_log_level(LOG_ERR, "x"), LWM2M_LOG_WARNING);
	ck_assert_int_eq(
	    gw_coap_log_level(LOG_WARNING, "discard malformed PDU"),
	    LWM2M_LOG_INFO);
	ck_assert_int_eq(gw_coap_log_level(LOG_NOTICE, "x"), LWM2M_LOG_INFO);
	ck_assert_int_eq(gw_coap_log_level(LOG_INFO, "x"), LWM2M_LOG_DEBUG);
	ck_assert_int_eq(gw_coap_log_level(LOG_DEBUG, "x"), LWM2M_LOG_DEBUG);
}
END_TEST

START_TEST(test_gw_coap_log_level_rst_is_ordinary)
{
	ck_assert_int_eq(
	    gw_coap_log_level(LOG_ALERT, "got RST for mid=0x1e7\n"),
	    LWM2M_LOG_DEBUG);
}
END_TEST

START_TEST(test_gw_coap_log_one_line_ours)
{
	char out[1024];

	logged(LWM2M_LOG_INFO, LOG_WARNING, "discard malformed PDU\n", out,
	       sizeof out);
	ck_assert_str_eq(out, "coap-gw info libcoap: discard malformed PDU\n");
}
END_TEST

START_TEST(test_gw_coap_log_quotes_peer_bytes)
{
	char out[1024];

	logged(LWM2M_LOG_INFO, LOG_WARNING,
	       "DTLS: self-signed certificate: 'a\"b\x01\nc' depth=0\n", out,
	       sizeof out);
	ck_assert_str_eq(out, "coap-gw info libcoap: DTLS: self-signed "
	                      "certificate: 'a'b??c' depth=0\n");
}
END_TEST

START_TEST(test_gw_coap_log_below_level_dropped)
{
	char out[1024];

	logged(LWM2M_LOG_INFO, LOG_ALERT, "got RST for mid=0x1\n", out,
	       sizeof out);
	ck_assert_str_eq(out, "");
	logged(LWM2M_LOG_NOTICE, LOG_WARNING, "discard malformed PDU\n", out,
	       sizeof out);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_gw_coap_log_init_sets_coap_level)
{
	gw_coap_log_init(LWM2M_LOG_INFO);
	ck_assert_int_eq(coap_get_log_level(), LOG_NOTICE);
	gw_coap_log_init(LWM2M_LOG_DEBUG);
	ck_assert_int_eq(coap_get_log_level(), LOG_INFO);
	gw_coap_log_init(LWM2M_LOG_WARNING);
	ck_assert_int_eq(coap_get_log_level(), LOG_ERR);
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"gw_coap_log_level", test_gw_coap_log_level_map},
	    {"gw_coap_log_level", test_gw_coap_log_level_rst_is_ordinary},
	    {"gw_coap_log", test_gw_coap_log_one_line_ours},
	    {"gw_coap_log", test_gw_coap_log_quotes_peer_bytes},
	    {"gw_coap_log", test_gw_coap_log_below_level_dropped},
	    {"gw_coap_log_init", test_gw_coap_log_init_sets_coap_level},
	};

	coap_startup();
	return check_run(
	    check_suite("gw_coap", cases, sizeof cases / sizeof *cases));
}
