/* mass_load OBJ COUNT PIN_DIR: load OBJ with libbpf COUNT times and pin each
 * copy's programs under PIN_DIR/<i>/, so thousands of programs outlive this
 * process for the scan benchmark. Clean up with `rm -rf PIN_DIR`. */
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common.h"

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	unsigned long count, i, programs = 0;
	char path[PATH_MAX];
	double start, seconds;
	struct rlimit rl;

	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ COUNT PIN_DIR\n", argv[0]);
		return 2;
	}
	count = parse_count(argv[2], "COUNT");
	libbpf_set_print(print_warnings);
	if (mkdir(argv[3], 0700) && errno != EEXIST) {
		perror(argv[3]);
		return 1;
	}

	start = now_seconds();
	for (i = 0; i < count; i++) {
		struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
		struct bpf_program *prog;
		int err = libbpf_get_error(obj);

		if (err) {
			fprintf(stderr, "open %s: %s\n", argv[1], strerror(-err));
			return 1;
		}
		err = bpf_object__load(obj);
		snprintf(path, sizeof(path), "%s/%lu", argv[3], i);
		if (!err)
			err = bpf_object__pin_programs(obj, path);
		if (err) {
			fprintf(stderr, "copy %lu of %s: %s (%lu programs pinned)\n",
				i, argv[1], strerror(-err), programs);
			bpf_object__close(obj);
			return 1;
		}
		bpf_object__for_each_program(prog, obj)
			programs++;
		bpf_object__close(obj);
	}
	seconds = now_seconds() - start;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	printf("{\"count\":%lu,\"programs\":%lu,\"seconds\":%.9f,\"memlock_limit\":%lld}\n",
	       count, programs, seconds,
	       rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur);
	return 0;
}
