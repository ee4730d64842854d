/* main.c - lwds-sim: many LwM2M clients from one process. */
#include <stdio.h>
#include <stdlib.h>

#include "lwm2m_log.h"
#include "sim.h"

int
main(int argc, char **argv)
{
	struct sim_opts opts;
	struct sim_ctx *ctx = NULL;
	char err[256];
	bool help;
	lwm2m_err rc;

	sim_opts_init(&opts);
	if (sim_opts_parse(&opts, argc, argv, &help, err, sizeof err) !=
	    LWM2M_OK) {
		fprintf(stderr, "lwds-sim: %s (see --help)\n", err);
		return 2;
	}
	if (help) {
		sim_opts_usage(stdout);
		return 0;
	}
	lwm2m_log_init("sim", opts.quiet     ? LWM2M_LOG_ERR
	                      : opts.verbose ? LWM2M_LOG_INFO
	                                     : LWM2M_LOG_NOTICE);
	rc = sim_ctx_new(&opts, &ctx);
	if (rc == LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_NOTICE, "starting %u clients against %s",
		          opts.count, opts.server);
		rc = sim_ctx_run(ctx);
	}
	sim_ctx_free(ctx);
	if (rc != LWM2M_OK) {
		fprintf(stderr, "lwds-sim: %s\n", lwm2m_strerror(rc));
		return 1;
	}
	return 0;
}
