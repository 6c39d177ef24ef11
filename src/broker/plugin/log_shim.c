/* mosquitto_log_printf is variadic, which stable Rust cannot define: this
 * formats the line and hands it to the broker's logger. */
#include <stdarg.h>
#include <stdio.h>

void mosquitto_rs_plugin_log(int level, const char *line);

void mosquitto_log_vprintf(int level, const char *fmt, va_list va)
{
	char buf[1024];

	if(fmt == NULL){
		return;
	}
	vsnprintf(buf, sizeof(buf), fmt, va);
	mosquitto_rs_plugin_log(level, buf);
}

void mosquitto_log_printf(int level, const char *fmt, ...)
{
	va_list va;

	va_start(va, fmt);
	mosquitto_log_vprintf(level, fmt, va);
	va_end(va);
}
