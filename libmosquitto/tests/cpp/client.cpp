// A C++ program on Debian's libmosquittopp (mosquittopp.h), which calls
// into libmosquitto.so.1: run by tests/c_program.rs on our library.
// Subscribes, publishes 10 QoS 1 messages to itself, prints "cpp ok 10".
#include <mosquittopp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

class Client : public mosqpp::mosquittopp {
public:
	int received = 0;
	bool subscribed = false;
	Client() : mosqpp::mosquittopp("cpp-client") {}
	void on_connect(int rc) override {
		if(rc) { std::fprintf(stderr, "connack %d\n", rc); std::exit(1); }
		subscribe(nullptr, "cpp/t", 1);
	}
	void on_subscribe(int, int, const int *) override { subscribed = true; }
	void on_message(const struct mosquitto_message *m) override {
		if(std::strcmp(m->topic, "cpp/t") == 0) received++;
	}
};

int main(int argc, char **argv)
{
	if(argc != 2) return 2;
	mosqpp::lib_init();
	Client c;
	if(c.connect("127.0.0.1", std::atoi(argv[1]), 30)) return 1;
	auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
	int sent = 0;
	while(c.received < 10 && std::chrono::steady_clock::now() < end){
		if(c.loop(100, 1) != MOSQ_ERR_SUCCESS) return 1;
		if(c.subscribed && sent < 10){
			char buf[8];
			int n = std::snprintf(buf, sizeof buf, "%d", sent++);
			if(c.publish(nullptr, "cpp/t", n, buf, 1, false)) return 1;
		}
	}
	c.disconnect();
	c.loop(100, 1);
	mosqpp::lib_cleanup();
	std::printf("cpp ok %d\n", c.received);
	return c.received == 10 ? 0 : 1;
}
