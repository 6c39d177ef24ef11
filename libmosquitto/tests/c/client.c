/*
 * A C program against mosquitto-rs's mosquitto.h, run by tests/c_program.rs.
 *
 *   client threaded  PORT   loop_start thread; 100 QoS 1 messages to itself
 *   client threads   PORT   the same, 1000 messages from 4 threads at once
 *   client polled    PORT   its own poll() around loop_read/loop_write/misc
 *   client reconnect PORT   persistent session across a broker restart:
 *                           50 messages, "half", waits for "go" on stdin
 *                           (the broker is then down), 50 more, all 100
 *                           must arrive
 *   client simple    PORT   subscribe_simple and subscribe_callback on the
 *                           two retained messages simple/1 and simple/2
 *   client api              library functions that need no broker
 *
 * Prints "<mode> ok ..." and exits 0 on success; every wait is bounded.
 */
#include <mosquitto.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOTAL 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int connected;
static int subscribed;
static int connects;
static char seen[TOTAL];
static int seen_count;
static int published;

static void fail(const char *what, int rc)
{
	fprintf(stderr, "FAIL %s: %d %s\n", what, rc, mosquitto_strerror(rc));
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)obj;
	if(rc) fail("connack", rc);
	pthread_mutex_lock(&lock);
	connected = 1;
	connects++;
	pthread_mutex_unlock(&lock);
	/* From inside a callback: the API may be called here. */
	int r = mosquitto_subscribe(m, NULL, "c/t", 1);
	if(r) fail("subscribe", r);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	(void)m; (void)obj; (void)mid;
	if(n != 1 || granted[0] != 1) fail("granted", n);
	pthread_mutex_lock(&lock);
	subscribed = 1;
	pthread_mutex_unlock(&lock);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	(void)m; (void)obj; (void)mid;
	pthread_mutex_lock(&lock);
	published++;
	pthread_mutex_unlock(&lock);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m; (void)obj;
	int i;
	if(strcmp(msg->topic, "c/t") != 0 || msg->qos != 1) fail("message", msg->qos);
	/* The payload is NUL-terminated. */
	if(sscanf((const char *)msg->payload, "m%d", &i) != 1 || i < 0 || i >= TOTAL) fail("payload", 0);
	pthread_mutex_lock(&lock);
	if(!seen[i]){
		seen[i] = 1;
		seen_count++;
	}
	pthread_mutex_unlock(&lock);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m; (void)obj; (void)rc;
	pthread_mutex_lock(&lock);
	connected = 0;
	subscribed = 0;
	pthread_mutex_unlock(&lock);
}

/* Waits up to `secs` for *flag >= want, reading it under the lock. */
static int wait_for(int *flag, int want, double secs)
{
	double end = now() + secs;
	while(now() < end){
		pthread_mutex_lock(&lock);
		int v = *flag;
		pthread_mutex_unlock(&lock);
		if(v >= want) return 1;
		usleep(2000);
	}
	return 0;
}

static struct mosquitto *make(const char *id, bool clean)
{
	struct mosquitto *m = mosquitto_new(id, clean, NULL);
	if(!m) fail("new", 0);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_publish_callback_set(m, on_publish);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	return m;
}

static void publish_range(struct mosquitto *m, int from, int to)
{
	char buf[16];
	for(int i = from; i < to; i++){
		int n = snprintf(buf, sizeof buf, "m%d", i);
		int rc = mosquitto_publish(m, NULL, "c/t", n, buf, 1, false);
		if(rc) fail("publish", rc);
	}
}

static int threaded(int port)
{
	struct mosquitto *m = make(NULL, true);
	int rc = mosquitto_connect(m, "127.0.0.1", port, 30);
	if(rc) fail("connect", rc);
	if((rc = mosquitto_loop_start(m))) fail("loop_start", rc);
	if(!wait_for(&subscribed, 1, 10)) fail("subscribed", 0);
	publish_range(m, 0, 100);
	if(!wait_for(&seen_count, 100, 10)) fail("received", seen_count);
	if(!wait_for(&published, 100, 10)) fail("acknowledged", published);
	mosquitto_disconnect(m);
	if((rc = mosquitto_loop_stop(m, false))) fail("loop_stop", rc);
	mosquitto_destroy(m);
	printf("threaded ok %d\n", seen_count);
	return 0;
}

struct range { struct mosquitto *m; int from; };

static void *publisher(void *arg)
{
	struct range *r = arg;
	publish_range(r->m, r->from, r->from + TOTAL / 4);
	return NULL;
}

static int threads(int port)
{
	struct mosquitto *m = make(NULL, true);
	mosquitto_max_inflight_messages_set(m, 50);
	int rc = mosquitto_connect(m, "127.0.0.1", port, 30);
	if(rc) fail("connect", rc);
	if((rc = mosquitto_loop_start(m))) fail("loop_start", rc);
	if(!wait_for(&subscribed, 1, 10)) fail("subscribed", 0);
	pthread_t t[4];
	struct range r[4];
	for(int i = 0; i < 4; i++){
		r[i].m = m;
		r[i].from = i * TOTAL / 4;
		pthread_create(&t[i], NULL, publisher, &r[i]);
	}
	for(int i = 0; i < 4; i++) pthread_join(t[i], NULL);
	if(!wait_for(&seen_count, TOTAL, 20)) fail("received", seen_count);
	if(!wait_for(&published, TOTAL, 10)) fail("acknowledged", published);
	mosquitto_disconnect(m);
	if((rc = mosquitto_loop_stop(m, false))) fail("loop_stop", rc);
	mosquitto_destroy(m);
	printf("threads ok %d\n", seen_count);
	return 0;
}

static int polled(int port)
{
	struct mosquitto *m = make("c-polled", true);
	int rc = mosquitto_connect(m, "127.0.0.1", port, 30);
	if(rc) fail("connect", rc);
	int sent = 0;
	double end = now() + 10, misc = 0;
	while(now() < end && seen_count < 100){
		struct pollfd p = { mosquitto_socket(m), POLLIN, 0 };
		if(p.fd < 0) fail("socket", p.fd);
		if(mosquitto_want_write(m)) p.events |= POLLOUT;
		if(poll(&p, 1, 100) < 0) fail("poll", 0);
		if(p.revents & (POLLIN | POLLHUP | POLLERR)){
			if((rc = mosquitto_loop_read(m, 1))) fail("loop_read", rc);
		}
		if(p.revents & POLLOUT){
			if((rc = mosquitto_loop_write(m, 1))) fail("loop_write", rc);
		}
		if(now() > misc){
			if((rc = mosquitto_loop_misc(m))) fail("loop_misc", rc);
			misc = now() + 1;
		}
		if(subscribed && sent < 100){
			publish_range(m, sent, sent + 10);
			sent += 10;
		}
	}
	if(seen_count != 100) fail("received", seen_count);
	mosquitto_disconnect(m);
	/* The DISCONNECT goes out with the next write; then no connection. */
	for(int i = 0; i < 100 && mosquitto_socket(m) >= 0; i++){
		mosquitto_loop_write(m, 1);
		usleep(1000);
	}
	if(mosquitto_socket(m) >= 0) fail("closed after disconnect", 0);
	mosquitto_destroy(m);
	printf("polled ok %d\n", seen_count);
	return 0;
}

static int reconnect(int port)
{
	struct mosquitto *m = make("c-reconnect", false);
	mosquitto_reconnect_delay_set(m, 1, 1, false);
	int rc = mosquitto_connect(m, "127.0.0.1", port, 30);
	if(rc) fail("connect", rc);
	if((rc = mosquitto_loop_start(m))) fail("loop_start", rc);
	if(!wait_for(&subscribed, 1, 10)) fail("subscribed", 0);
	publish_range(m, 0, 50);
	if(!wait_for(&seen_count, 50, 10)) fail("first half", seen_count);
	printf("half\n");
	fflush(stdout);
	char line[16];
	if(!fgets(line, sizeof line, stdin)) fail("stdin", 0);
	/* The broker is down or restarting now: these are queued or resent. */
	publish_range(m, 50, 100);
	if(!wait_for(&seen_count, 100, 20)) fail("second half", seen_count);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	printf("reconnect ok %d connects %d\n", seen_count, connects);
	return 0;
}

static int api(void)
{
	int major, minor, rev;
	if(mosquitto_lib_version(&major, &minor, &rev) != 2000011 || major != 2) fail("version", major);
	bool r;
	if(mosquitto_topic_matches_sub("a/+/c", "a/b/c", &r) || !r) fail("matches", 0);
	if(mosquitto_topic_matches_sub("#", "$SYS/x", &r) || r) fail("matches $", 0);
	if(mosquitto_sub_topic_check("a/#/b") != MOSQ_ERR_INVAL) fail("sub check", 0);
	if(mosquitto_pub_topic_check("a/+") != MOSQ_ERR_INVAL) fail("pub check", 0);
	if(mosquitto_validate_utf8("a\xff", 2) != MOSQ_ERR_MALFORMED_UTF8) fail("utf8", 0);
	char **tok; int n;
	if(mosquitto_sub_topic_tokenise("a//c", &tok, &n) || n != 3 || strcmp(tok[0], "a") || tok[1]) fail("tokenise", n);
	mosquitto_sub_topic_tokens_free(&tok, n);
	mosquitto_property *props = NULL;
	if(mosquitto_property_add_string_pair(&props, 38, "k", "v")) fail("add pair", 0);
	if(mosquitto_property_add_int32(&props, 2, 60)) fail("add int32", 0);
	if(mosquitto_property_add_byte(&props, 2, 1) != MOSQ_ERR_INVAL) fail("wrong type", 0);
	if(mosquitto_property_check_all(0x30, props)) fail("check publish", 0);
	if(mosquitto_property_check_all(0x10, props) != MOSQ_ERR_PROTOCOL) fail("check connect", 0);
	char *k, *v; uint32_t expiry;
	if(!mosquitto_property_read_string_pair(props, 38, &k, &v, false) || strcmp(k, "k") || strcmp(v, "v")) fail("read pair", 0);
	free(k); free(v);
	if(!mosquitto_property_read_int32(props, 2, &expiry, false) || expiry != 60) fail("read int32", 0);
	if(mosquitto_property_identifier(mosquitto_property_next(props)) != 2) fail("next", 0);
	mosquitto_property *copy = NULL;
	mosquitto_property_copy_all(&copy, props);
	mosquitto_property_free_all(&props);
	mosquitto_property_free_all(&copy);
	if(props || copy) fail("free_all", 0);
	if(strcmp(mosquitto_strerror(MOSQ_ERR_NO_CONN), "The client is not currently connected.")) fail("strerror", 0);
	if(strcmp(mosquitto_connack_string(5), "Connection Refused: not authorised.")) fail("connack_string", 0);
	if(strcmp(mosquitto_reason_string(0x87), "Not authorized")) fail("reason_string", 0);
	struct mosquitto *m = mosquitto_new(NULL, false, NULL);
	if(m) fail("new without id and clean session", 0);
	m = mosquitto_new("x", true, NULL);
	if(mosquitto_publish(m, NULL, "t", 1, "x", 0, false) != MOSQ_ERR_NO_CONN) fail("publish unconnected", 0);
	if(mosquitto_loop(m, 10, 1) != MOSQ_ERR_NO_CONN) fail("loop unconnected", 0);
	if(mosquitto_socket(m) != -1) fail("socket unconnected", 0);
	if(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, 9) != MOSQ_ERR_INVAL) fail("bad version", 0);
	struct mosquitto_message src = { 7, "t/x", "pay", 3, 1, true }, *dst = malloc(sizeof *dst);
	if(mosquitto_message_copy(dst, &src) || strcmp(dst->topic, "t/x") || dst->payloadlen != 3) fail("copy", 0);
	mosquitto_message_free(&dst);
	if(dst) fail("message_free", 0);
	mosquitto_destroy(m);
	printf("api ok\n");
	return 0;
}

static int callback_seen;

static int on_simple(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	if(obj != &callback_seen || !msg->retain) fail("callback args", 0);
	callback_seen++;
	return callback_seen == 2; /* non-zero: stop */
}

static int simple(int port)
{
	struct mosquitto_message *msgs = NULL;
	int rc = mosquitto_subscribe_simple(&msgs, 2, true, "simple/#", 1, "127.0.0.1", port,
			NULL, 60, true, NULL, NULL, NULL, NULL);
	if(rc) fail("subscribe_simple", rc);
	/* Retained messages may come in either order. */
	int first = strcmp(msgs[0].topic, "simple/1") ? 1 : 0;
	int ok = !strcmp(msgs[first].topic, "simple/1") && !strcmp(msgs[1 - first].topic, "simple/2")
		&& msgs[first].payloadlen == 3 && !memcmp(msgs[first].payload, "one", 3);
	for(int i = 0; i < 2; i++) mosquitto_message_free_contents(&msgs[i]);
	free(msgs);
	if(!ok) fail("simple messages", 0);
	rc = mosquitto_subscribe_callback(on_simple, &callback_seen, "simple/#", 1, "127.0.0.1", port,
			NULL, 60, true, NULL, NULL, NULL, NULL);
	if(rc || callback_seen != 2) fail("subscribe_callback", rc);
	printf("simple ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	mosquitto_lib_init();
	int rc = 2;
	if(argc == 2 && !strcmp(argv[1], "api")) rc = api();
	else if(argc == 3 && !strcmp(argv[1], "threaded")) rc = threaded(atoi(argv[2]));
	else if(argc == 3 && !strcmp(argv[1], "polled")) rc = polled(atoi(argv[2]));
	else if(argc == 3 && !strcmp(argv[1], "threads")) rc = threads(atoi(argv[2]));
	else if(argc == 3 && !strcmp(argv[1], "reconnect")) rc = reconnect(atoi(argv[2]));
	else if(argc == 3 && !strcmp(argv[1], "simple")) rc = simple(atoi(argv[2]));
	mosquitto_lib_cleanup();
	return rc;
}
