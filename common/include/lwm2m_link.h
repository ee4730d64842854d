/* lwm2m_link.h - CoRE link-format (RFC 6690) parser and writer.
 *
 * Used for the registration payload of LwM2M devices and for Discover
 * answers.  The parser borrows from the input: every pointer of a parsed
 * list points into the caller's buffer, which must outlive the list.
 */
#ifndef LWM2M_LINK_H
#define LWM2M_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "lwm2m_err.h"

/* Attributes one link may carry before parsing fails with LWM2M_ELIMIT. */
#define LWM2M_LINK_MAX_ATTRS 32

struct lwm2m_link_attr {
	const char *name; /* borrowed, not NUL-terminated */
	size_t name_len;
	const char *value; /* NULL for a valueless attribute (";obs") */
	size_t value_len;  /* quoted values: the text between the quotes */
	bool quoted;
};

struct lwm2m_link {
	const char *uri; /* between '<' and '>', borrowed */
	size_t uri_len;
	size_t first_attr; /* index into lwm2m_link_list.attrs */
	size_t n_attrs;
};

struct lwm2m_link_list {
	struct lwm2m_link *links;
	size_t n_links;
	struct lwm2m_link_attr *attrs;
	size_t n_attrs;
};

/* lwm2m_link_parse parses len bytes of link-format at buf into a new list
 * (caller frees with lwm2m_link_list_free; the list borrows buf).  Optional
 * whitespace between link-values and around ';' is tolerated.  An empty
 * input gives an empty list.  Fails with LWM2M_EPROTO on a syntax error and
 * LWM2M_ELIMIT past max_links links or LWM2M_LINK_MAX_ATTRS attributes in one
 * link; then, when diag is not NULL, writes a NUL-terminated text naming the
 * byte offset and the problem into diag (diag_size bytes).  Any thread. */
lwm2m_err lwm2m_link_parse(const char *buf, size_t len, size_t max_links,
                           struct lwm2m_link_list **ret_list, char *diag,
                           size_t diag_size);

/* lwm2m_link_list_free frees a list from lwm2m_link_parse; NULL-safe,
 * returns NULL. */
struct lwm2m_link_list *lwm2m_link_list_free(struct lwm2m_link_list *list);

/* The links and attributes lwm2m_link_parse_in fills before it allocates:
 * a device's registration payload fits, so parsing it allocates nothing
 * (the list and its two growing arrays were six calls into the allocator
 * per Register; bench/README.md, ninth storm round).  About 1.8 KiB. */
#define LWM2M_LINK_SPACE_LINKS 16
#define LWM2M_LINK_SPACE_ATTRS 32

struct lwm2m_link_space {
	struct lwm2m_link links[LWM2M_LINK_SPACE_LINKS];
	struct lwm2m_link_attr attrs[LWM2M_LINK_SPACE_ATTRS];
};

/* lwm2m_link_parse_in is lwm2m_link_parse into *ret_list (written only on
 * success), whose arrays start in the caller's space (on the stack, say)
 * and move to the heap only past its size.  space must outlive the list;
 * release with lwm2m_link_list_fini(list, space).  On failure nothing is
 * left to release.  Same limits and errors as lwm2m_link_parse. */
lwm2m_err lwm2m_link_parse_in(const char *buf, size_t len, size_t max_links,
                              struct lwm2m_link_space *space,
                              struct lwm2m_link_list *ret_list, char *diag,
                              size_t diag_size);

/* lwm2m_link_list_fini frees what a list holds beyond space (space NULL:
 * both arrays) and zeroes it; NULL-safe.  The list itself is the
 * caller's. */
void lwm2m_link_list_fini(struct lwm2m_link_list *list,
                          const struct lwm2m_link_space *space);

/* lwm2m_link_attr_find returns the first attribute of link named name, or
 * NULL. */
const struct lwm2m_link_attr *
lwm2m_link_attr_find(const struct lwm2m_link_list *list,
                     const struct lwm2m_link *link, const char *name);

/* lwm2m_link_format writes list back as link-format ("<uri>;a=b;c=\"d\",...")
 * into buf (size bytes, NUL-terminated).  Returns LWM2M_ELIMIT when buf is
 * too small; *ret_len (may be NULL) gets the length written on success. */
lwm2m_err lwm2m_link_format(const struct lwm2m_link_list *list, char *buf,
                            size_t size, size_t *ret_len);

/* lwm2m_link_format_len returns the length lwm2m_link_format would write,
 * without the NUL. */
size_t lwm2m_link_format_len(const struct lwm2m_link_list *list);

#endif
