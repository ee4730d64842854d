/* api_route.c - matching a method and path against the route table. */
#include "api.h"

#include <string.h>
#include <strings.h>

/* Returns the next segment of *p (without '/'), advancing *p; false at the
 * end.  A trailing '/' does not make an empty last segment. */
static bool
next_segment(const char **p, const char **ret_seg, size_t *ret_len)
{
	const char *s = *p;

	if (*s == '/') {
		s++;
	}
	if (*s == '\0') {
		return false;
	}
	*ret_seg = s;
	*ret_len = strcspn(s, "/");
	*p = s + *ret_len;
	return true;
}

/* Matches path against pattern, collecting {params}. */
static bool
match_path(const char *pattern, const char *path, struct api_param *params,
           size_t *ret_n)
{
	const char *pp = pattern, *sp = path, *pseg = NULL, *sseg = NULL;
	size_t plen = 0, slen = 0, n = 0;

	for (;;) {
		bool more_p = next_segment(&pp, &pseg, &plen);
		bool more_s = next_segment(&sp, &sseg, &slen);

		if (!more_p || !more_s) {
			*ret_n = n;
			return more_p == more_s;
		}
		if (slen == 0) {
			return false;
		}
		if (plen >= 2 && pseg[0] == '{' && pseg[plen - 1] == '}') {
			if (n == API_MAX_PARAMS) {
				return false;
			}
			params[n++] = (struct api_param){pseg + 1, plen - 2,
			                                 sseg, slen};
		} else if (plen != slen || strncasecmp(pseg, sseg, plen) != 0) {
			return false;
		}
	}
}

enum api_match
api_route_match(const struct api_route *table, size_t n, htp_method method,
                const char *path, const struct api_route **ret_route,
                struct api_param *ret_params, size_t *ret_n_params,
                unsigned *ret_allowed)
{
	struct api_param params[API_MAX_PARAMS];
	unsigned allowed = 0;
	size_t np;

	if (path == NULL || path[0] != '/') {
		return API_MATCH_NONE;
	}
	for (size_t i = 0; i < n; i++) {
		if (!match_path(table[i].pattern, path, params, &np)) {
			continue;
		}
		if (table[i].method == method) {
			*ret_route = &table[i];
			memcpy(ret_params, params, np * sizeof params[0]);
			*ret_n_params = np;
			return API_MATCH_OK;
		}
		allowed |= 1u << table[i].method;
	}
	if (allowed != 0) {
		*ret_allowed = allowed;
		return API_MATCH_METHOD;
	}
	return API_MATCH_NONE;
}
