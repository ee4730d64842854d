#include "lwm2m_env.h"

#include <string.h>

static void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	put_u16(p, (uint16_t)(v >> 16));
	put_u16(p + 2, (uint16_t)v);
}

static uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)get_u16(p) << 16 | get_u16(p + 2);
}

lwm2m_err
lwm2m_env_nng_err(int rv)
{
	switch (rv) {
	case 0:
		return LWM2M_OK;
	case NNG_ENOMEM:
		return LWM2M_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return LWM2M_EINVAL;
	case NNG_ETIMEDOUT:
		return LWM2M_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		return LWM2M_ECLOSED;
	case NNG_EAGAIN:
		return LWM2M_ELIMIT;
	case NNG_EPROTO:
		return LWM2M_EPROTO;
	default:
		return LWM2M_EIO;
	}
}

lwm2m_err
lwm2m_env_header_encode(const struct lwm2m_env *env, uint8_t *buf,
                        size_t *ret_len)
{
	uint8_t rid_len = (uint8_t)env->rid_len;

	if (env->rid_len > LWM2M_ENV_RID_MAX) {
		return LWM2M_EINVAL;
	}
	put_u16(buf, LWM2M_ENV_VERSION);
	put_u16(buf + 2, env->kind);
	put_u32(buf + 4, rid_len > 0 ? env->flags | LWM2M_ENV_F_RID
	                             : env->flags & ~LWM2M_ENV_F_RID);
	put_u32(buf + 8, (uint32_t)(env->corr_id >> 32));
	put_u32(buf + 12, (uint32_t)env->corr_id);
	*ret_len = LWM2M_ENV_HEADER_LEN;
	if (rid_len > 0) {
		buf[LWM2M_ENV_HEADER_LEN] = rid_len;
		memcpy(buf + LWM2M_ENV_HEADER_LEN + 1, env->rid, rid_len);
		*ret_len += 1u + rid_len;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_env_encode(const struct lwm2m_env *env, nng_msg **ret_msg)
{
	uint8_t hdr[LWM2M_ENV_HEADER_MAX];
	size_t hlen;
	nng_msg *msg;
	int rv;

	if (lwm2m_env_header_encode(env, hdr, &hlen) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	rv = nng_msg_alloc(&msg, 0);
	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	rv = nng_msg_append(msg, hdr, hlen);
	if (rv == 0 && env->payload_len > 0) {
		rv = nng_msg_append(msg, env->payload, env->payload_len);
	}
	if (rv != 0) {
		nng_msg_free(msg);
		return lwm2m_env_nng_err(rv);
	}
	*ret_msg = msg;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_env_decode_buf(const uint8_t *body, size_t len, struct lwm2m_env *ret_env)
{
	if (len < LWM2M_ENV_HEADER_LEN || get_u16(body) != LWM2M_ENV_VERSION) {
		return LWM2M_EPROTO;
	}
	ret_env->kind = get_u16(body + 2);
	ret_env->flags = get_u32(body + 4);
	ret_env->corr_id =
	    (uint64_t)get_u32(body + 8) << 32 | get_u32(body + 12);
	ret_env->payload = body + LWM2M_ENV_HEADER_LEN;
	ret_env->payload_len = len - LWM2M_ENV_HEADER_LEN;
	ret_env->rid = NULL;
	ret_env->rid_len = 0;
	if (ret_env->flags & LWM2M_ENV_F_RID) {
		size_t n = ret_env->payload_len > 0 ? ret_env->payload[0] : 0;
		if (n == 0 || n > LWM2M_ENV_RID_MAX ||
		    n + 1 > ret_env->payload_len) {
			return LWM2M_EPROTO;
		}
		ret_env->rid = (const char *)ret_env->payload + 1;
		ret_env->rid_len = n;
		ret_env->payload += n + 1;
		ret_env->payload_len -= n + 1;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_env_decode(nng_msg *msg, struct lwm2m_env *ret_env)
{
	return lwm2m_env_decode_buf(nng_msg_body(msg), nng_msg_len(msg),
	                            ret_env);
}

lwm2m_err
lwm2m_env_send(nng_socket sock, nng_msg *msg)
{
	int rv = nng_sendmsg(sock, msg, NNG_FLAG_NONBLOCK);

	if (rv != 0) {
		nng_msg_free(msg);
		return lwm2m_env_nng_err(rv);
	}
	return LWM2M_OK;
}
