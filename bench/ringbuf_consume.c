/* ringbuf_consume MAP_PIN PROG_PIN N BATCH: the C consumer bench/ringbuf.py compares
 * against. Runs the pinned program with BPF_PROG_TEST_RUN (repeat BATCH: BATCH events)
 * and drains the pinned ring buffer with libbpf's ring_buffer__consume, copying each
 * record out, until N events went through. Prints the time spent consuming and the
 * time of the whole loop. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common.h"

struct sink {
	unsigned long events;
	unsigned long bytes;
	char copy[4096];
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct sink *s = ctx;

	if (size > sizeof(s->copy))
		size = sizeof(s->copy);
	memcpy(s->copy, data, size);
	s->events++;
	s->bytes += size;
	return 0;
}

int main(int argc, char **argv)
{
	static struct sink sink;
	char data[64] = { 0 };
	double start, t0, t1, consume = 0, seconds;
	unsigned long n, batch;
	struct ring_buffer *rb;
	int map_fd, prog_fd;

	if (argc != 5) {
		fprintf(stderr, "usage: %s MAP_PIN PROG_PIN N BATCH\n", argv[0]);
		return 2;
	}
	n = parse_count(argv[3], "N");
	batch = parse_count(argv[4], "BATCH");
	map_fd = bpf_obj_get(argv[1]);
	prog_fd = bpf_obj_get(argv[2]);
	if (map_fd < 0 || prog_fd < 0) {
		fprintf(stderr, "bpf_obj_get: %s\n", strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(map_fd, on_event, &sink, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	/* Whatever an earlier reader left behind is not ours to count. */
	ring_buffer__consume(rb);
	sink.events = sink.bytes = 0;

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = sizeof(data),
		    .repeat = (int)batch);
	start = now_seconds();
	while (sink.events < n) {
		unsigned long before = sink.events;

		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "test run: %s\n", strerror(errno));
			return 1;
		}
		t0 = now_seconds();
		while (sink.events - before < batch) {
			if (ring_buffer__consume(rb) < 0) {
				fprintf(stderr, "consume: %s\n", strerror(errno));
				return 1;
			}
		}
		t1 = now_seconds();
		consume += t1 - t0;
	}
	seconds = now_seconds() - start;
	printf("{\"events\":%lu,\"bytes\":%lu,\"seconds\":%.9f,\"consume_seconds\":%.9f}\n",
	       sink.events, sink.bytes, seconds, consume);
	ring_buffer__free(rb);
	return 0;
}
