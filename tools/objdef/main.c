/* lwds-objdef - object definitions from the command line.
 *
 *   lwds-objdef convert [--xml] FILE...      DDF/JSON/XML files -> stdout
 *   lwds-objdef import [--org N] FILE...     store them (all or nothing)
 *   lwds-objdef install [--org N] FILE...    store those whose ObjectID is new
 *   lwds-objdef list [--org N]               one line per stored definition
 *   lwds-objdef export [--org N] [--xml]     the stored definitions
 *   lwds-objdef delete [--org N] ID
 *
 * FILE is an OMA DDF file (root <LWM2M>), a REST JSON document (one
 * definition or {"Items":[...]}) or the REST XML form.  Redis comes from
 * --redis-url URL or LWDS_REDIS_URL (default redis://127.0.0.1:6379).  --org 0,
 * the default, is the global scope.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_loop.h"
#include "lwm2m_objdef.h"
#include "lwm2m_objdef_store.h"
#include "lwm2m_redis.h"

struct opts {
	const char *redis_url;
	long long org;
	bool xml;
	const char *cmd;
	char **files;
	int n_files;
};

static void
usage(void)
{
	fprintf(
	    stderr,
	    "usage: lwds-objdef [--redis-url URL] [--org N] [--xml] COMMAND "
	    "[ARG...]\n"
	    "  convert FILE...   print DDF/JSON/XML files as one document\n"
	    "  import FILE...    store them in the scope (all or nothing)\n"
	    "  install FILE...   store those whose ObjectID is not defined\n"
	    "  list              list the scope's definitions\n"
	    "  export            print the scope's definitions\n"
	    "  delete ID         delete one definition of the scope\n");
}

static bool
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"redis-url", required_argument, NULL, 'r'},
	    {"org", required_argument, NULL, 'o'},
	    {"xml", no_argument, NULL, 'x'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	o->redis_url = lwm2m_getenv("LWDS_REDIS_URL", "redis://127.0.0.1:6379");
	while ((c = getopt_long(argc, argv, "r:o:xh", longopts, NULL)) != -1) {
		if (c == 'r') {
			o->redis_url = optarg;
		} else if (c == 'o') {
			if (lwm2m_parse_int(optarg, 0, INT64_MAX, &o->org) !=
			    LWM2M_OK) {
				fprintf(stderr, "lwds-objdef: bad --org\n");
				return false;
			}
		} else if (c == 'x') {
			o->xml = true;
		} else {
			return false;
		}
	}
	if (optind >= argc) {
		return false;
	}
	o->cmd = argv[optind];
	o->files = argv + optind + 1;
	o->n_files = argc - optind - 1;
	return true;
}

static bool
load_files(const struct opts *o, struct lwm2m_objdef_list *list)
{
	struct lwm2m_diag diag;

	for (int i = 0; i < o->n_files; i++) {
		memset(&diag, 0, sizeof(diag));
		if (lwm2m_objdef_load_file(o->files[i], list, &diag) !=
		    LWM2M_OK) {
			fprintf(stderr, "lwds-objdef: %s: %s\n", o->files[i],
			        diag.msg);
			return false;
		}
	}
	lwm2m_objdef_list_sort(list);
	return true;
}

static int
print_list(const struct lwm2m_objdef_list *list, bool xml)
{
	char *out;
	size_t len;
	lwm2m_err err;

	err = xml ? lwm2m_objdef_xml_render_list(list, NULL, &out, &len)
	          : lwm2m_objdef_json_render_list(list, NULL, true, &out, &len);
	if (err != LWM2M_OK) {
		fprintf(stderr, "lwds-objdef: render: %s\n",
		        lwm2m_strerror(err));
		return 1;
	}
	fwrite(out, 1, len, stdout);
	fputc('\n', stdout);
	free(out);
	return 0;
}

static int
cmd_store(const struct opts *o, redisContext *c, struct lwm2m_objdef_list *l)
{
	size_t index = 0, installed = 0;
	lwm2m_err err;

	if (strcmp(o->cmd, "install") == 0) {
		err = lwm2m_objdef_sync_install(c, o->org, l, &installed);
	} else {
		err =
		    lwm2m_objdef_sync_create(c, o->org, l->defs, l->n, &index);
		installed = l->n;
	}
	if (err == LWM2M_EEXIST) {
		fprintf(stderr,
		        "lwds-objdef: ObjectID %u already defined in org %lld; "
		        "nothing stored\n",
		        (unsigned)l->defs[index]->object_id, o->org);
		return 1;
	}
	if (err != LWM2M_OK) {
		fprintf(stderr, "lwds-objdef: %s\n", lwm2m_strerror(err));
		return 1;
	}
	printf("%zu definition(s) stored in org %lld\n", installed, o->org);
	return 0;
}

static int
cmd_list(const struct opts *o, redisContext *c, struct lwm2m_objdef_list *l)
{
	lwm2m_err err = lwm2m_objdef_sync_list(c, o->org, l);

	if (err != LWM2M_OK) {
		fprintf(stderr, "lwds-objdef: %s\n", lwm2m_strerror(err));
		return 1;
	}
	if (strcmp(o->cmd, "export") == 0) {
		return print_list(l, o->xml);
	}
	for (size_t i = 0; i < l->n; i++) {
		printf("%s %5u %s\n", l->defs[i]->id,
		       (unsigned)l->defs[i]->object_id, l->defs[i]->name);
	}
	return 0;
}

static int
cmd_delete(const struct opts *o, redisContext *c)
{
	lwm2m_err err;

	if (o->n_files != 1) {
		usage();
		return 2;
	}
	err = lwm2m_objdef_sync_delete(c, o->org, o->files[0]);
	if (err != LWM2M_OK) {
		fprintf(stderr, "lwds-objdef: %s: %s\n", o->files[0],
		        lwm2m_strerror(err));
		return 1;
	}
	return 0;
}

static int
run_redis(const struct opts *o, struct lwm2m_objdef_list *list)
{
	redisContext *c;
	int rc;

	if (lwm2m_redis_sync_connect(o->redis_url, &c) != LWM2M_OK) {
		fprintf(stderr, "lwds-objdef: cannot connect to %s\n",
		        o->redis_url);
		return 1;
	}
	if (strcmp(o->cmd, "list") == 0 || strcmp(o->cmd, "export") == 0) {
		rc = cmd_list(o, c, list);
	} else if (strcmp(o->cmd, "delete") == 0) {
		rc = cmd_delete(o, c);
	} else {
		rc = cmd_store(o, c, list);
	}
	redisFree(c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	struct lwm2m_objdef_list list;
	bool files = false;
	int rc = 2;

	if (!parse_opts(argc, argv, &o)) {
		usage();
		return 2;
	}
	files = strcmp(o.cmd, "convert") == 0 || strcmp(o.cmd, "import") == 0 ||
	        strcmp(o.cmd, "install") == 0;
	if (!files && strcmp(o.cmd, "list") != 0 &&
	    strcmp(o.cmd, "export") != 0 && strcmp(o.cmd, "delete") != 0) {
		usage();
		return 2;
	}
	lwm2m_objdef_list_init(&list);
	if (files && (o.n_files == 0 || !load_files(&o, &list))) {
		rc = o.n_files == 0 ? (usage(), 2) : 1;
	} else if (strcmp(o.cmd, "convert") == 0) {
		rc = print_list(&list, o.xml);
	} else {
		rc = run_redis(&o, &list);
	}
	lwm2m_objdef_list_fini(&list);
	return rc;
}
