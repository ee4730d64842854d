/* lwm2m_objdef_store.h - object definitions in Redis (REST spec 5.2).
 *
 * Every scope (LWM2M_OBJDEF_GLOBAL = the admin organisation 0, or one
 * organisation) keeps a HASH definition id -> definition JSON and a ZSET of
 * its ids scored by ObjectID (LWM2M_KEY_ORG_OBJDEFS, _OBJDEF_OIDS), both under
 * the organisation's hash tag, so every change is one Lua script on one
 * slot.  Within a scope an ObjectID exists at most once.
 *
 * Visibility for a viewer organisation: its own definitions plus the global
 * ones; its own definition for an ObjectID overrides the global one.  Only the
 * admin organisation may change global definitions.
 *
 * Each scope also has a version (LWM2M_KEY_ORG_OBJDEFS_VER) that every change
 * made here sets to a value it never had, in the same script.  A lookup by
 * id reads the versions of the scopes it depends on and, when they are
 * those it saw with a parse it kept (per Redis connection), answers with
 * that parse without fetching the JSON; otherwise it fetches the JSON as
 * before.  So every change of definitions must go through this module (or
 * set the version the same way), as every writer in this tree does.
 *
 * The asynchronous functions run on the loop thread with the process's
 * struct lwm2m_redis; each calls cb exactly once (also on failure), except
 * when it returns an error itself.  The _sync functions are for tools and
 * start-up work before the loop runs.
 */
#ifndef LWM2M_OBJDEF_STORE_H
#define LWM2M_OBJDEF_STORE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "lwm2m_objdef.h"
#include "lwm2m_redis.h"

/* def is borrowed: valid only during the call (lwm2m_objdef_dup to keep
 * it).  def->org tells its scope.  NULL when err != LWM2M_OK. */
typedef void (*lwm2m_objdef_get_cb)(lwm2m_err err,
                                    const struct lwm2m_objdef *def, void *arg);

/* list is borrowed, sorted by ObjectID. */
typedef void (*lwm2m_objdef_list_cb)(lwm2m_err err,
                                     const struct lwm2m_objdef_list *list,
                                     void *arg);

/* index: with LWM2M_EEXIST, the index of the first conflicting definition. */
typedef void (*lwm2m_objdef_done_cb)(lwm2m_err err, size_t index, void *arg);

/* lwm2m_objdef_store_get finds definition id visible to viewer_org:
 * LWM2M_ENOTFOUND when there is none. */
lwm2m_err lwm2m_objdef_store_get(struct lwm2m_redis *redis,
                                 long long viewer_org, const char *id,
                                 lwm2m_objdef_get_cb cb, void *arg);

/* lwm2m_objdef_store_find resolves ObjectID object_id for viewer_org (own
 * definition first, then the global one; spec 4.5). */
lwm2m_err lwm2m_objdef_store_find(struct lwm2m_redis *redis,
                                  long long viewer_org, uint16_t object_id,
                                  lwm2m_objdef_get_cb cb, void *arg);

/* lwm2m_objdef_store_list returns every definition visible to viewer_org
 * sorted by ObjectID (spec 5.3). */
lwm2m_err lwm2m_objdef_store_list(struct lwm2m_redis *redis,
                                  long long viewer_org, lwm2m_objdef_list_cb cb,
                                  void *arg);

/* lwm2m_objdef_store_create stores defs[0..n) in scope org, all or nothing:
 * missing ids are assigned (defs are updated: read the ids back after the
 * call), and LWM2M_EEXIST with the index when an id or an ObjectID already
 * exists in the scope or twice among defs.  defs may be freed once the call
 * returns. */
lwm2m_err lwm2m_objdef_store_create(struct lwm2m_redis *redis, long long org,
                                    struct lwm2m_objdef *const *defs, size_t n,
                                    lwm2m_objdef_done_cb cb, void *arg);

/* lwm2m_objdef_store_replace replaces definition id (the URL's id, never
 * the body's: spec 11.2 item 11) with def, keeping the PropertyDefinitionIDs
 * of properties with the same PropertyID.  LWM2M_ENOTFOUND when not visible,
 * LWM2M_EDENIED for a global definition and a non-admin viewer,
 * LWM2M_EEXIST when def's ObjectID belongs to another definition of the
 * scope.  def is copied before the call returns. */
lwm2m_err lwm2m_objdef_store_replace(struct lwm2m_redis *redis,
                                     long long viewer_org, const char *id,
                                     const struct lwm2m_objdef *def,
                                     lwm2m_objdef_done_cb cb, void *arg);

/* lwm2m_objdef_store_delete deletes definition id: LWM2M_ENOTFOUND when not
 * visible, LWM2M_EDENIED for a global one and a non-admin viewer. */
lwm2m_err lwm2m_objdef_store_delete(struct lwm2m_redis *redis,
                                    long long viewer_org, const char *id,
                                    lwm2m_objdef_done_cb cb, void *arg);

/* ---- blocking variants (tools, start-up) -------------------------------- */

/* lwm2m_objdef_sync_create is lwm2m_objdef_store_create on a blocking
 * connection; ret_index (may be NULL) gets the conflicting index. */
lwm2m_err lwm2m_objdef_sync_create(redisContext *c, long long org,
                                   struct lwm2m_objdef *const *defs, size_t n,
                                   size_t *ret_index);

/* lwm2m_objdef_sync_list appends the definitions of one scope (no merging)
 * to list, sorted by ObjectID. */
lwm2m_err lwm2m_objdef_sync_list(redisContext *c, long long org,
                                 struct lwm2m_objdef_list *list);

/* lwm2m_objdef_sync_delete deletes definition id of scope org. */
lwm2m_err lwm2m_objdef_sync_delete(redisContext *c, long long org,
                                   const char *id);

/* lwm2m_objdef_sync_install stores in scope org each definition of list
 * whose ObjectID the scope does not define yet (the shipped definitions at
 * start-up), and gives the scope a version if it has none (written before
 * versions existed); ret_installed (may be NULL) gets how many were
 * added. */
lwm2m_err lwm2m_objdef_sync_install(redisContext *c, long long org,
                                    const struct lwm2m_objdef_list *list,
                                    size_t *ret_installed);

#endif
