/* batch_lookup MAP_PIN CHUNK ROUNDS: reads every element of the pinned map with
 * BPF_MAP_LOOKUP_BATCH, CHUNK elements a call, ROUNDS times; prints the best round's
 * seconds. The anchor of bench/ringbuf.py's items() figure. */
#include "common.h"

int main(int argc, char **argv)
{
	unsigned long chunk, rounds, r, count = 0;
	union bpf_attr attr;
	struct bpf_map_info info;
	double best = 1e30;
	char *keys, *values;
	__u64 token, next;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: %s MAP_PIN CHUNK ROUNDS\n", argv[0]);
		return 2;
	}
	chunk = parse_count(argv[2], "CHUNK");
	rounds = parse_count(argv[3], "ROUNDS");
	memset(&attr, 0, sizeof(attr));
	attr.pathname = ptr_to_u64(argv[1]);
	fd = sys_bpf(BPF_OBJ_GET, &attr, sizeof(attr));
	if (fd < 0) {
		fprintf(stderr, "BPF_OBJ_GET %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	memset(&info, 0, sizeof(info));
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = fd;
	attr.info.info_len = sizeof(info);
	attr.info.info = ptr_to_u64(&info);
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr))) {
		fprintf(stderr, "info: %s\n", strerror(errno));
		return 1;
	}
	keys = malloc(chunk * info.key_size);
	values = malloc(chunk * info.value_size);
	if (!keys || !values)
		return 1;
	for (r = 0; r < rounds; r++) {
		double start = now_seconds(), t;
		int first = 1;

		count = 0;
		for (;;) {
			long err;

			memset(&attr, 0, sizeof(attr));
			attr.batch.in_batch = first ? 0 : ptr_to_u64(&token);
			attr.batch.out_batch = ptr_to_u64(&next);
			attr.batch.keys = ptr_to_u64(keys);
			attr.batch.values = ptr_to_u64(values);
			attr.batch.count = chunk;
			attr.batch.map_fd = fd;
			err = sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr, sizeof(attr));
			count += attr.batch.count;
			if (err && errno == ENOENT)
				break;
			if (err) {
				fprintf(stderr, "BPF_MAP_LOOKUP_BATCH: %s\n", strerror(errno));
				return 1;
			}
			token = next;
			first = 0;
		}
		t = now_seconds() - start;
		if (t < best)
			best = t;
	}
	printf("{\"elements\":%lu,\"seconds\":%.9f}\n", count, best);
	return 0;
}
