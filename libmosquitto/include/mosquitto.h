/*
 * mosquitto.h for mosquitto-rs's libmosquitto.so.1.
 *
 * The C client API of libmosquitto 2.0 (same functions, types, constants
 * and binary interface), implemented in Rust on mosquitto-rs's protocol
 * code. Programs built against libmosquitto 2.0 run on this library
 * unchanged, and programs built against this header run on either.
 *
 * Conventions: functions returning int return a MOSQ_ERR_* code
 * (MOSQ_ERR_SUCCESS on success). A `struct mosquitto *` comes from
 * mosquitto_new() and is freed with mosquitto_destroy(). Strings and
 * buffers the library returns through out-parameters (property reads,
 * message copies, topic tokens) are the caller's to free, with free() or
 * the matching mosquitto_*_free function.
 */
#ifndef MOSQUITTO_H
#define MOSQUITTO_H

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__cplusplus) && !defined(bool)
#  include <stdbool.h>
#endif
#include <stddef.h>
#include <stdint.h>

#define libmosq_EXPORT

#define LIBMOSQUITTO_MAJOR 2
#define LIBMOSQUITTO_MINOR 0
#define LIBMOSQUITTO_REVISION 11
#define LIBMOSQUITTO_VERSION_NUMBER (LIBMOSQUITTO_MAJOR*1000000+LIBMOSQUITTO_MINOR*1000+LIBMOSQUITTO_REVISION)

/* Log levels passed to the log callback. */
#define MOSQ_LOG_NONE        0
#define MOSQ_LOG_INFO        (1<<0)
#define MOSQ_LOG_NOTICE      (1<<1)
#define MOSQ_LOG_WARNING     (1<<2)
#define MOSQ_LOG_ERR         (1<<3)
#define MOSQ_LOG_DEBUG       (1<<4)
#define MOSQ_LOG_SUBSCRIBE   (1<<5)
#define MOSQ_LOG_UNSUBSCRIBE (1<<6)
#define MOSQ_LOG_WEBSOCKETS  (1<<7)
#define MOSQ_LOG_INTERNAL    0x80000000U
#define MOSQ_LOG_ALL         0xFFFFFFFFU

/* Return codes. */
enum mosq_err_t {
	MOSQ_ERR_AUTH_CONTINUE = -4,
	MOSQ_ERR_NO_SUBSCRIBERS = -3,
	MOSQ_ERR_SUB_EXISTS = -2,
	MOSQ_ERR_CONN_PENDING = -1,
	MOSQ_ERR_SUCCESS = 0,
	MOSQ_ERR_NOMEM = 1,
	MOSQ_ERR_PROTOCOL = 2,
	MOSQ_ERR_INVAL = 3,
	MOSQ_ERR_NO_CONN = 4,
	MOSQ_ERR_CONN_REFUSED = 5,
	MOSQ_ERR_NOT_FOUND = 6,
	MOSQ_ERR_CONN_LOST = 7,
	MOSQ_ERR_TLS = 8,
	MOSQ_ERR_PAYLOAD_SIZE = 9,
	MOSQ_ERR_NOT_SUPPORTED = 10,
	MOSQ_ERR_AUTH = 11,
	MOSQ_ERR_ACL_DENIED = 12,
	MOSQ_ERR_UNKNOWN = 13,
	MOSQ_ERR_ERRNO = 14,
	MOSQ_ERR_EAI = 15,
	MOSQ_ERR_PROXY = 16,
	MOSQ_ERR_PLUGIN_DEFER = 17,
	MOSQ_ERR_MALFORMED_UTF8 = 18,
	MOSQ_ERR_KEEPALIVE = 19,
	MOSQ_ERR_LOOKUP = 20,
	MOSQ_ERR_MALFORMED_PACKET = 21,
	MOSQ_ERR_DUPLICATE_PROPERTY = 22,
	MOSQ_ERR_TLS_HANDSHAKE = 23,
	MOSQ_ERR_QOS_NOT_SUPPORTED = 24,
	MOSQ_ERR_OVERSIZE_PACKET = 25,
	MOSQ_ERR_OCSP = 26,
	MOSQ_ERR_TIMEOUT = 27,
	MOSQ_ERR_RETAIN_NOT_SUPPORTED = 28,
	MOSQ_ERR_TOPIC_ALIAS_INVALID = 29,
	MOSQ_ERR_ADMINISTRATIVE_ACTION = 30,
	MOSQ_ERR_ALREADY_EXISTS = 31,
};

/* Options for mosquitto_int_option, _string_option and _void_option. */
enum mosq_opt_t {
	MOSQ_OPT_PROTOCOL_VERSION = 1,
	MOSQ_OPT_SSL_CTX = 2,
	MOSQ_OPT_SSL_CTX_WITH_DEFAULTS = 3,
	MOSQ_OPT_RECEIVE_MAXIMUM = 4,
	MOSQ_OPT_SEND_MAXIMUM = 5,
	MOSQ_OPT_TLS_KEYFORM = 6,
	MOSQ_OPT_TLS_ENGINE = 7,
	MOSQ_OPT_TLS_ENGINE_KPASS_SHA1 = 8,
	MOSQ_OPT_TLS_OCSP_REQUIRED = 9,
	MOSQ_OPT_TLS_ALPN = 10,
	MOSQ_OPT_TCP_NODELAY = 11,
	MOSQ_OPT_BIND_ADDRESS = 12,
	MOSQ_OPT_TLS_USE_OS_CERTS = 13,
};

#define MOSQ_MQTT_ID_MAX_LENGTH 23

#define MQTT_PROTOCOL_V31 3
#define MQTT_PROTOCOL_V311 4
#define MQTT_PROTOCOL_V5 5

/* A received message. In the message callback it belongs to the library
 * and lives for the call; keep a copy with mosquitto_message_copy(). The
 * topic and payload are NUL-terminated; payload is NULL when empty. */
struct mosquitto_message {
	int mid;
	char *topic;
	void *payload;
	int payloadlen;
	int qos;
	bool retain;
};

/* A client. Opaque. */
struct mosquitto;

/* A list of MQTT 5 properties. Opaque; NULL is the empty list. */
typedef struct mqtt5__property mosquitto_property;

/* --- Library ------------------------------------------------------------ */

/* Returns LIBMOSQUITTO_VERSION_NUMBER; any pointer may be NULL. */
libmosq_EXPORT int mosquitto_lib_version(int *major, int *minor, int *revision);
/* Nothing needs setting up or tearing down; both return MOSQ_ERR_SUCCESS. */
libmosq_EXPORT int mosquitto_lib_init(void);
libmosq_EXPORT int mosquitto_lib_cleanup(void);

/* --- Clients ------------------------------------------------------------ */

/* A new client. id NULL lets the broker choose one (clean_session must then
 * be true). obj is handed to every callback. NULL on failure, errno set to
 * EINVAL or ENOMEM. */
libmosq_EXPORT struct mosquitto *mosquitto_new(const char *id, bool clean_session, void *obj);
/* Stops the loop thread if running, closes the connection, frees all. */
libmosq_EXPORT void mosquitto_destroy(struct mosquitto *mosq);
/* Returns the client to the state mosquitto_new() gives, keeping the handle. */
libmosq_EXPORT int mosquitto_reinitialise(struct mosquitto *mosq, const char *id, bool clean_session, void *obj);

/* The will, sent with the next CONNECT. With _v5, the library takes the
 * properties on success; on failure they are still the caller's. */
libmosq_EXPORT int mosquitto_will_set(struct mosquitto *mosq, const char *topic, int payloadlen, const void *payload, int qos, bool retain);
libmosq_EXPORT int mosquitto_will_set_v5(struct mosquitto *mosq, const char *topic, int payloadlen, const void *payload, int qos, bool retain, mosquitto_property *properties);
libmosq_EXPORT int mosquitto_will_clear(struct mosquitto *mosq);

/* Credentials for the next CONNECT; NULL username removes them. */
libmosq_EXPORT int mosquitto_username_pw_set(struct mosquitto *mosq, const char *username, const char *password);

/* --- Connecting ----------------------------------------------------------- */

/* Resolve, connect (TCP; TLS starts here and finishes in the loop) and
 * send CONNECT. The CONNACK arrives through the loop and the connect
 * callback. The _async
 * forms behave the same in this library. keepalive is in seconds (0, or
 * at least 5). port 0 means 1883. */
libmosq_EXPORT int mosquitto_connect(struct mosquitto *mosq, const char *host, int port, int keepalive);
libmosq_EXPORT int mosquitto_connect_bind(struct mosquitto *mosq, const char *host, int port, int keepalive, const char *bind_address);
libmosq_EXPORT int mosquitto_connect_bind_v5(struct mosquitto *mosq, const char *host, int port, int keepalive, const char *bind_address, const mosquitto_property *properties);
libmosq_EXPORT int mosquitto_connect_async(struct mosquitto *mosq, const char *host, int port, int keepalive);
libmosq_EXPORT int mosquitto_connect_bind_async(struct mosquitto *mosq, const char *host, int port, int keepalive, const char *bind_address);
/* DNS SRV lookups are not built in: MOSQ_ERR_NOT_SUPPORTED. */
libmosq_EXPORT int mosquitto_connect_srv(struct mosquitto *mosq, const char *host, int keepalive, const char *bind_address);
/* Connect again with the last settings. */
libmosq_EXPORT int mosquitto_reconnect(struct mosquitto *mosq);
libmosq_EXPORT int mosquitto_reconnect_async(struct mosquitto *mosq);

/* Send DISCONNECT; the connection closes once it is written, and the
 * disconnect callback gets rc 0. */
libmosq_EXPORT int mosquitto_disconnect(struct mosquitto *mosq);
libmosq_EXPORT int mosquitto_disconnect_v5(struct mosquitto *mosq, int reason_code, const mosquitto_property *properties);

/* --- Messages ------------------------------------------------------------- */

/* Publish. *mid (if mid is not NULL) receives the message id the publish
 * callback will report. QoS 1 and 2 messages are kept until acknowledged,
 * resent after a reconnect, and queued while over the in-flight limit or
 * not connected. */
libmosq_EXPORT int mosquitto_publish(struct mosquitto *mosq, int *mid, const char *topic, int payloadlen, const void *payload, int qos, bool retain);
libmosq_EXPORT int mosquitto_publish_v5(struct mosquitto *mosq, int *mid, const char *topic, int payloadlen, const void *payload, int qos, bool retain, const mosquitto_property *properties);

libmosq_EXPORT int mosquitto_subscribe(struct mosquitto *mosq, int *mid, const char *sub, int qos);
/* options: the MQTT 5 subscription option bits (no local 0x04, retain as
 * published 0x08, retain handling 0x10/0x20). */
libmosq_EXPORT int mosquitto_subscribe_v5(struct mosquitto *mosq, int *mid, const char *sub, int qos, int options, const mosquitto_property *properties);
libmosq_EXPORT int mosquitto_subscribe_multiple(struct mosquitto *mosq, int *mid, int sub_count, char *const *const sub, int qos, int options, const mosquitto_property *properties);

libmosq_EXPORT int mosquitto_unsubscribe(struct mosquitto *mosq, int *mid, const char *sub);
libmosq_EXPORT int mosquitto_unsubscribe_v5(struct mosquitto *mosq, int *mid, const char *sub, const mosquitto_property *properties);
libmosq_EXPORT int mosquitto_unsubscribe_multiple(struct mosquitto *mosq, int *mid, int sub_count, char *const *const sub, const mosquitto_property *properties);

/* Copy a message into memory the caller owns; free with mosquitto_message_free
 * (the struct too) or mosquitto_message_free_contents (topic and payload). */
libmosq_EXPORT int mosquitto_message_copy(struct mosquitto_message *dst, const struct mosquitto_message *src);
libmosq_EXPORT void mosquitto_message_free(struct mosquitto_message **message);
libmosq_EXPORT void mosquitto_message_free_contents(struct mosquitto_message *message);

/* --- Network loop --------------------------------------------------------- */

/* One turn: wait up to timeout ms (negative: 1000) for the socket, read,
 * write, keepalive. MOSQ_ERR_NO_CONN when not connected. */
libmosq_EXPORT int mosquitto_loop(struct mosquitto *mosq, int timeout, int max_packets);
/* Loop until the application disconnects; reconnects after a lost
 * connection, waiting as set by mosquitto_reconnect_delay_set. */
libmosq_EXPORT int mosquitto_loop_forever(struct mosquitto *mosq, int timeout, int max_packets);
/* Run mosquitto_loop_forever on a thread of the library's own. All other
 * functions may then be called from any thread, callbacks included. */
libmosq_EXPORT int mosquitto_loop_start(struct mosquitto *mosq);
/* Join the loop thread: with force, stop it now; without, wait for the
 * disconnect the application asked for. */
libmosq_EXPORT int mosquitto_loop_stop(struct mosquitto *mosq, bool force);

/* For applications with their own poll/select: wait on mosquitto_socket()
 * for reading (and writing when mosquitto_want_write()), then call
 * loop_read / loop_write, and loop_misc about once a second. */
libmosq_EXPORT int mosquitto_socket(struct mosquitto *mosq);
libmosq_EXPORT bool mosquitto_want_write(struct mosquitto *mosq);
libmosq_EXPORT int mosquitto_loop_read(struct mosquitto *mosq, int max_packets);
libmosq_EXPORT int mosquitto_loop_write(struct mosquitto *mosq, int max_packets);
libmosq_EXPORT int mosquitto_loop_misc(struct mosquitto *mosq);

/* Always safe here; kept for the API. */
libmosq_EXPORT int mosquitto_threaded_set(struct mosquitto *mosq, bool threaded);

/* --- Options -------------------------------------------------------------- */

libmosq_EXPORT int mosquitto_opts_set(struct mosquitto *mosq, enum mosq_opt_t option, void *value);
libmosq_EXPORT int mosquitto_int_option(struct mosquitto *mosq, enum mosq_opt_t option, int value);
libmosq_EXPORT int mosquitto_string_option(struct mosquitto *mosq, enum mosq_opt_t option, const char *value);
/* MOSQ_OPT_SSL_CTX with an application's SSL_CTX is not supported. */
libmosq_EXPORT int mosquitto_void_option(struct mosquitto *mosq, enum mosq_opt_t option, void *value);

/* Wait delay seconds before reconnecting, growing (linearly or, with
 * exponential_backoff, quadratically) up to delay_max. */
libmosq_EXPORT int mosquitto_reconnect_delay_set(struct mosquitto *mosq, unsigned int reconnect_delay, unsigned int reconnect_delay_max, bool reconnect_exponential_backoff);
/* Outgoing QoS 1/2 messages in flight at once (default 20, 0: no limit). */
libmosq_EXPORT int mosquitto_max_inflight_messages_set(struct mosquitto *mosq, unsigned int max_inflight_messages);
/* No effect (as in libmosquitto 2.0). */
libmosq_EXPORT void mosquitto_message_retry_set(struct mosquitto *mosq, unsigned int message_retry);

libmosq_EXPORT void mosquitto_user_data_set(struct mosquitto *mosq, void *obj);
libmosq_EXPORT void *mosquitto_userdata(struct mosquitto *mosq);

/* --- TLS and proxies ------------------------------------------------------ */

/* A CA file or directory is required; certfile and keyfile go together.
 * Encrypted keys (pw_callback) are not supported. */
libmosq_EXPORT int mosquitto_tls_set(struct mosquitto *mosq, const char *cafile, const char *capath, const char *certfile, const char *keyfile, int (*pw_callback)(char *buf, int size, int rwflag, void *userdata));
/* cert_reqs 0 (no verification) is refused; tls_version "tlsv1.3",
 * "tlsv1.2" or "tlsv1.1". */
libmosq_EXPORT int mosquitto_tls_opts_set(struct mosquitto *mosq, int cert_reqs, const char *tls_version, const char *ciphers);
/* Skip the server host name check (the chain is still verified). */
libmosq_EXPORT int mosquitto_tls_insecure_set(struct mosquitto *mosq, bool value);
/* TLS-PSK: psk in hex. */
libmosq_EXPORT int mosquitto_tls_psk_set(struct mosquitto *mosq, const char *psk, const char *identity, const char *ciphers);
/* Not available: always NULL. */
libmosq_EXPORT void *mosquitto_ssl_get(struct mosquitto *mosq);
/* Connect through a SOCKS5 proxy, which resolves the broker's name;
 * username NULL: no login. */
libmosq_EXPORT int mosquitto_socks5_set(struct mosquitto *mosq, const char *host, int port, const char *username, const char *password);

/* --- Callbacks -------------------------------------------------------------
 * Called from the thread running the loop, without any library lock held.
 * When both a callback and its _v5 form are set, both are called. */

libmosq_EXPORT void mosquitto_connect_callback_set(struct mosquitto *mosq, void (*on_connect)(struct mosquitto *, void *, int));
libmosq_EXPORT void mosquitto_connect_with_flags_callback_set(struct mosquitto *mosq, void (*on_connect)(struct mosquitto *, void *, int, int));
libmosq_EXPORT void mosquitto_connect_v5_callback_set(struct mosquitto *mosq, void (*on_connect)(struct mosquitto *, void *, int, int, const mosquitto_property *props));
libmosq_EXPORT void mosquitto_disconnect_callback_set(struct mosquitto *mosq, void (*on_disconnect)(struct mosquitto *, void *, int));
libmosq_EXPORT void mosquitto_disconnect_v5_callback_set(struct mosquitto *mosq, void (*on_disconnect)(struct mosquitto *, void *, int, const mosquitto_property *props));
libmosq_EXPORT void mosquitto_publish_callback_set(struct mosquitto *mosq, void (*on_publish)(struct mosquitto *, void *, int));
libmosq_EXPORT void mosquitto_publish_v5_callback_set(struct mosquitto *mosq, void (*on_publish)(struct mosquitto *, void *, int, int, const mosquitto_property *props));
libmosq_EXPORT void mosquitto_message_callback_set(struct mosquitto *mosq, void (*on_message)(struct mosquitto *, void *, const struct mosquitto_message *));
libmosq_EXPORT void mosquitto_message_v5_callback_set(struct mosquitto *mosq, void (*on_message)(struct mosquitto *, void *, const struct mosquitto_message *, const mosquitto_property *props));
libmosq_EXPORT void mosquitto_subscribe_callback_set(struct mosquitto *mosq, void (*on_subscribe)(struct mosquitto *, void *, int, int, const int *));
libmosq_EXPORT void mosquitto_subscribe_v5_callback_set(struct mosquitto *mosq, void (*on_subscribe)(struct mosquitto *, void *, int, int, const int *, const mosquitto_property *props));
libmosq_EXPORT void mosquitto_unsubscribe_callback_set(struct mosquitto *mosq, void (*on_unsubscribe)(struct mosquitto *, void *, int));
libmosq_EXPORT void mosquitto_unsubscribe_v5_callback_set(struct mosquitto *mosq, void (*on_unsubscribe)(struct mosquitto *, void *, int, const mosquitto_property *props));
libmosq_EXPORT void mosquitto_log_callback_set(struct mosquitto *mosq, void (*on_log)(struct mosquitto *, void *, int, const char *));

/* --- Strings and topics --------------------------------------------------- */

/* Static strings; do not free. */
libmosq_EXPORT const char *mosquitto_strerror(int mosq_errno);
libmosq_EXPORT const char *mosquitto_connack_string(int connack_code);
libmosq_EXPORT const char *mosquitto_reason_string(int reason_code);
/* "connect", "publish", ... "will" to its command value (CMD_*). */
libmosq_EXPORT int mosquitto_string_to_command(const char *str, int *cmd);

/* Split a topic at '/': *topics is an array of *count strings (NULL for an
 * empty level); free with mosquitto_sub_topic_tokens_free. */
libmosq_EXPORT int mosquitto_sub_topic_tokenise(const char *subtopic, char ***topics, int *count);
libmosq_EXPORT int mosquitto_sub_topic_tokens_free(char ***topics, int count);
libmosq_EXPORT int mosquitto_topic_matches_sub(const char *sub, const char *topic, bool *result);
libmosq_EXPORT int mosquitto_topic_matches_sub2(const char *sub, size_t sublen, const char *topic, size_t topiclen, bool *result);
libmosq_EXPORT int mosquitto_pub_topic_check(const char *topic);
libmosq_EXPORT int mosquitto_pub_topic_check2(const char *topic, size_t topiclen);
libmosq_EXPORT int mosquitto_sub_topic_check(const char *topic);
libmosq_EXPORT int mosquitto_sub_topic_check2(const char *topic, size_t topiclen);
/* MOSQ_ERR_MALFORMED_UTF8 for text MQTT does not allow (bad encoding,
 * NUL, control characters, non-characters). */
libmosq_EXPORT int mosquitto_validate_utf8(const char *str, int len);

/* --- Helpers -------------------------------------------------------------- */

struct libmosquitto_will {
	char *topic;
	void *payload;
	int payloadlen;
	int qos;
	bool retain;
};

struct libmosquitto_auth {
	char *username;
	char *password;
};

struct libmosquitto_tls {
	char *cafile;
	char *capath;
	char *certfile;
	char *keyfile;
	char *ciphers;
	char *tls_version;
	int (*pw_callback)(char *buf, int size, int rwflag, void *userdata);
	int cert_reqs;
};

/* Connect, subscribe, and return the first msg_count messages in a
 * malloc'ed array (free each with mosquitto_message_free_contents, then
 * the array with free). */
libmosq_EXPORT int mosquitto_subscribe_simple(struct mosquitto_message **messages, int msg_count, bool want_retained, const char *topic, int qos, const char *host, int port, const char *client_id, int keepalive, bool clean_session, const char *username, const char *password, const struct libmosquitto_will *will, const struct libmosquitto_tls *tls);
/* Connect, subscribe, and call callback for each message until it returns
 * non-zero. */
libmosq_EXPORT int mosquitto_subscribe_callback(int (*callback)(struct mosquitto *, void *, const struct mosquitto_message *), void *userdata, const char *topic, int qos, const char *host, int port, const char *client_id, int keepalive, bool clean_session, const char *username, const char *password, const struct libmosquitto_will *will, const struct libmosquitto_tls *tls);

/* --- MQTT 5 properties ---------------------------------------------------- */

/* Append a property to *proplist (start with a NULL list). MOSQ_ERR_INVAL
 * when the identifier is not of the function's type. */
libmosq_EXPORT int mosquitto_property_add_byte(mosquitto_property **proplist, int identifier, uint8_t value);
libmosq_EXPORT int mosquitto_property_add_int16(mosquitto_property **proplist, int identifier, uint16_t value);
libmosq_EXPORT int mosquitto_property_add_int32(mosquitto_property **proplist, int identifier, uint32_t value);
libmosq_EXPORT int mosquitto_property_add_varint(mosquitto_property **proplist, int identifier, uint32_t value);
libmosq_EXPORT int mosquitto_property_add_binary(mosquitto_property **proplist, int identifier, const void *value, uint16_t len);
libmosq_EXPORT int mosquitto_property_add_string(mosquitto_property **proplist, int identifier, const char *value);
libmosq_EXPORT int mosquitto_property_add_string_pair(mosquitto_property **proplist, int identifier, const char *name, const char *value);

libmosq_EXPORT int mosquitto_property_identifier(const mosquitto_property *property);
libmosq_EXPORT mosquitto_property *mosquitto_property_next(const mosquitto_property *proplist);

/* Find the first property `identifier` (with skip_first, the next one after
 * proplist's own) and read its value; returns it, or NULL if none.
 * Strings and binary values are malloc'ed copies the caller frees. */
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_byte(const mosquitto_property *proplist, int identifier, uint8_t *value, bool skip_first);
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_int16(const mosquitto_property *proplist, int identifier, uint16_t *value, bool skip_first);
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_int32(const mosquitto_property *proplist, int identifier, uint32_t *value, bool skip_first);
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_varint(const mosquitto_property *proplist, int identifier, uint32_t *value, bool skip_first);
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_binary(const mosquitto_property *proplist, int identifier, void **value, uint16_t *len, bool skip_first);
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_string(const mosquitto_property *proplist, int identifier, char **value, bool skip_first);
libmosq_EXPORT const mosquitto_property *mosquitto_property_read_string_pair(const mosquitto_property *proplist, int identifier, char **name, char **value, bool skip_first);

libmosq_EXPORT void mosquitto_property_free_all(mosquitto_property **properties);
libmosq_EXPORT int mosquitto_property_copy_all(mosquitto_property **dest, const mosquitto_property *src);
/* Whether a property may go in a packet of type `command`
 * (MOSQ_ERR_PROTOCOL if not), and a whole list likewise. */
libmosq_EXPORT int mosquitto_property_check_command(int command, int identifier);
libmosq_EXPORT int mosquitto_property_check_all(int command, const mosquitto_property *properties);
libmosq_EXPORT const char *mosquitto_property_identifier_to_string(int identifier);
/* "user-property" and the like to identifier and value type. */
libmosq_EXPORT int mosquitto_string_to_property_info(const char *propname, int *identifier, int *type);

#ifdef __cplusplus
}
#endif

#endif
