/* bind_loop N [M]: BPF_PROG_BIND_MAP of M ARRAY maps (default 1), in turn, to one
 * tiny socket filter, N times in all; after the first round every map is already
 * held, so this times the kernel's fast path (used_maps_mutex and a scan of the M
 * used maps), the same work the Python benchmark asks of the kernel. */
#include "common.h"

#ifndef BPF_PROG_BIND_MAP_CMD
#define BPF_PROG_BIND_MAP_CMD 35 /* BPF_PROG_BIND_MAP, since 5.10 */
#endif

static int load_prog(void)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static const char license[] = "GPL";
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = ptr_to_u64(insns);
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = ptr_to_u64(license);
	strcpy(attr.prog_name, "bind_loop");
	return sys_bpf(BPF_PROG_LOAD, &attr, sizeof(attr));
}

static int create_map(void)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	strcpy(attr.map_name, "bind_loop");
	return sys_bpf(BPF_MAP_CREATE, &attr, sizeof(attr));
}

int main(int argc, char **argv)
{
	unsigned long n, m = 1, i;
	int prog_fd, *map_fds;
	double start, seconds;
	union bpf_attr attr;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s N [M]\n", argv[0]);
		return 2;
	}
	n = parse_count(argv[1], "N");
	if (argc == 3)
		m = parse_count(argv[2], "M");
	map_fds = calloc(m, sizeof(*map_fds));
	if (!map_fds) {
		perror("calloc");
		return 1;
	}

	prog_fd = load_prog();
	if (prog_fd < 0) {
		perror("BPF_PROG_LOAD");
		return 1;
	}
	for (i = 0; i < m; i++) {
		map_fds[i] = create_map();
		if (map_fds[i] < 0) {
			perror("BPF_MAP_CREATE");
			return 1;
		}
	}

	start = now_seconds();
	for (i = 0; i < n; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.prog_bind_map.prog_fd = prog_fd;
		attr.prog_bind_map.map_fd = map_fds[i % m];
		if (sys_bpf(BPF_PROG_BIND_MAP_CMD, &attr, sizeof(attr)) < 0) {
			perror("BPF_PROG_BIND_MAP");
			return 1;
		}
	}
	seconds = now_seconds() - start;
	printf("{\"n\":%lu,\"maps\":%lu,\"seconds\":%.9f}\n", n, m, seconds);
	for (i = 0; i < m; i++)
		close(map_fds[i]);
	free(map_fds);
	close(prog_fd);
	return 0;
}
