/* load_libbpf OBJ N: open, load and close OBJ with libbpf N times in a row;
 * the anchor that bpfbind's own loader is compared against. */
#include <bpf/libbpf.h>
#include <stdarg.h>

#include "common.h"

/* libbpf reports skipped sections (.metadata) at info level: keep warnings only. */
static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	unsigned long n, i;
	double start, seconds;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJ N\n", argv[0]);
		return 2;
	}
	n = parse_count(argv[2], "N");
	libbpf_set_print(print_warnings);

	start = now_seconds();
	for (i = 0; i < n; i++) {
		struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
		int err = libbpf_get_error(obj);

		if (err) {
			fprintf(stderr, "open %s: %s\n", argv[1], strerror(-err));
			return 1;
		}
		err = bpf_object__load(obj);
		if (err) {
			fprintf(stderr, "load %s (round %lu): %s\n", argv[1], i, strerror(-err));
			bpf_object__close(obj);
			return 1;
		}
		bpf_object__close(obj);
	}
	seconds = now_seconds() - start;
	printf("{\"n\":%lu,\"seconds\":%.9f}\n", n, seconds);
	return 0;
}
