/* The HTTP ceiling: libmicrohttpd alone, started with the options src/http/server.c gives it
 * (internal polling thread, epoll, a thread pool, the same connection limit, timeout and
 * per-connection memory), answering every request with a fixed JSON body of about the size
 * of an encrypt answer. Request bodies are read and dropped; nothing is parsed, no token
 * checked, no HSM or database touched. bench/run.sh points wrk at it with the encrypt
 * script to get the most a gateway on this libmicrohttpd set-up could answer.
 * Usage: baremhd PORT THREADS [CONNECTION_LIMIT] [TIMEOUT_SECONDS]   (127.0.0.1; stops on
 * SIGINT or SIGTERM) */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

static const char body[] =
    "{\"ciphertext\":\"hsmgw:v1:AAAAAAAAAAAAAAAAMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMz"
    "Q1Njc4OWFiY2RlZgAAAAAAAAAAAAAAAAAAAAA=\",\"key_version\":1,\"algorithm\":\"AES-GCM\"}";

/* libmicrohttpd calls this first with the headers, then with each chunk of the body, then
 * once with none: the answer goes on that last call. *state marks a request already seen. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				 const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	static int seen;
	if (!*state) {
		*state = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* dropped */
		return MHD_YES;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: baremhd PORT THREADS [CONNECTION_LIMIT] [TIMEOUT_SECONDS]\n");
		return 2;
	}
	unsigned port = (unsigned)atoi(argv[1]), threads = (unsigned)atoi(argv[2]);
	unsigned limit = argc > 3 ? (unsigned)atoi(argv[3]) : 1024, timeout = argc > 4 ? (unsigned)atoi(argv[4]) : 30;
	if (port == 0 || port > 65535 || threads == 0) {
		fprintf(stderr, "baremhd: bad port or thread count\n");
		return 2;
	}
	/* The pool's threads inherit this mask: only the main thread takes the signals. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct MHD_Daemon *d =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			     on_access, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
			     threads, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "baremhd: cannot listen on 127.0.0.1:%u\n", port);
		return 1;
	}
	int sig;
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	return 0;
}
