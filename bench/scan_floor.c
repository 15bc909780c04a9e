/* scan_floor [--repeat R]: the fewest bpf(2) calls a full metadata scan can
 * make, single-threaded and without decoding, as the floor for bpfbind's scan.
 *
 * Per program: GET_FD_BY_ID (ENOENT: gone, skipped), one OBJ_GET_INFO_BY_FD
 * with a map_ids buffer; then bpftool's rule over map_ids in order (first
 * ARRAY, key 4, max_entries 1, BTF value type, ".rodata" in the name), one
 * MAP_LOOKUP_ELEM of key 0 and the map's BTF blob, fetched once per btf_id per
 * scan. Prints {"programs":P,"seconds":S,...}: S is the mean time of one scan,
 * min_seconds the fastest; with_metadata counts programs whose map was found. */
#include "common.h"

struct blob {
	__u32 id;
	__u32 size;
	void *data;
};

/* Open addressing keyed by btf_id; cleared at the start of every scan. */
static struct blob *cache;
static size_t cache_cap;
static size_t cache_len;

static void cache_reset(void)
{
	size_t i;

	for (i = 0; i < cache_cap; i++) {
		free(cache[i].data);
		cache[i].data = NULL;
		cache[i].id = 0;
	}
	cache_len = 0;
}

static struct blob *cache_slot(__u32 id)
{
	size_t i = (id * 2654435761u) & (cache_cap - 1);

	while (cache[i].id && cache[i].id != id)
		i = (i + 1) & (cache_cap - 1);
	return &cache[i];
}

static void cache_grow(void)
{
	struct blob *old = cache;
	size_t old_cap = cache_cap, i;

	cache_cap = old_cap ? old_cap * 2 : 1024;
	cache = calloc(cache_cap, sizeof(*cache));
	if (!cache) {
		perror("calloc");
		exit(1);
	}
	for (i = 0; i < old_cap; i++)
		if (old[i].id)
			*cache_slot(old[i].id) = old[i];
	free(old);
}

static int get_fd_by_id(int cmd, __u32 id)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	if (cmd == BPF_BTF_GET_FD_BY_ID)
		attr.btf_id = id;
	else if (cmd == BPF_MAP_GET_FD_BY_ID)
		attr.map_id = id;
	else
		attr.prog_id = id;
	return sys_bpf(cmd, &attr, sizeof(attr));
}

static int get_info(int fd, void *info, __u32 len)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = fd;
	attr.info.info_len = len;
	attr.info.info = ptr_to_u64(info);
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr));
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The BTF blob of btf_id, once per scan. */
static void fetch_btf(__u32 btf_id)
{
	struct bpf_btf_info info;
	struct blob *slot;
	__u32 cap = 4096;
	void *buf;
	int fd;

	slot = cache_slot(btf_id);
	if (slot->id)
		return;
	fd = get_fd_by_id(BPF_BTF_GET_FD_BY_ID, btf_id);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die("BPF_BTF_GET_FD_BY_ID");
	}
	buf = malloc(cap);
	for (;;) {
		if (!buf)
			die("malloc");
		memset(&info, 0, sizeof(info));
		info.btf = ptr_to_u64(buf);
		info.btf_size = cap;
		if (get_info(fd, &info, sizeof(info)) < 0)
			die("BPF_OBJ_GET_INFO_BY_FD (btf)");
		if (info.btf_size <= cap)
			break;
		cap = info.btf_size;
		buf = realloc(buf, cap);
	}
	close(fd);
	if (2 * (cache_len + 1) > cache_cap) {
		cache_grow();
		slot = cache_slot(btf_id);
	}
	slot->id = btf_id;
	slot->size = info.btf_size;
	slot->data = buf;
	cache_len++;
}

/* bpftool's metadata map of one program: 1 if found (value read, BTF fetched). */
static int scan_metadata(const __u32 *map_ids, __u32 n)
{
	static unsigned char *value;
	static __u32 value_cap;
	struct bpf_map_info info;
	union bpf_attr attr;
	__u32 i, key = 0;
	int fd;

	for (i = 0; i < n; i++) {
		fd = get_fd_by_id(BPF_MAP_GET_FD_BY_ID, map_ids[i]);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			die("BPF_MAP_GET_FD_BY_ID");
		}
		memset(&info, 0, sizeof(info));
		if (get_info(fd, &info, sizeof(info)) < 0)
			die("BPF_OBJ_GET_INFO_BY_FD (map)");
		if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 ||
		    info.max_entries != 1 || !info.btf_value_type_id ||
		    !strstr(info.name, ".rodata")) {
			close(fd);
			continue;
		}
		if (info.value_size > value_cap) {
			value_cap = info.value_size;
			value = realloc(value, value_cap);
			if (!value)
				die("realloc");
		}
		memset(&attr, 0, sizeof(attr));
		attr.map_fd = fd;
		attr.key = ptr_to_u64(&key);
		attr.value = ptr_to_u64(value);
		if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr, sizeof(attr)) < 0)
			die("BPF_MAP_LOOKUP_ELEM");
		close(fd);
		fetch_btf(info.btf_id);
		return 1;
	}
	return 0;
}

static void scan(unsigned long *programs, unsigned long *with_metadata)
{
	static __u32 *map_ids;
	static __u32 map_cap = 64;
	struct bpf_prog_info info;
	union bpf_attr attr;
	__u32 id = 0;
	int fd;

	if (!map_ids && !(map_ids = malloc(map_cap * sizeof(*map_ids))))
		die("malloc");
	*programs = *with_metadata = 0;
	for (;;) {
		memset(&attr, 0, sizeof(attr));
		attr.start_id = id;
		if (sys_bpf(BPF_PROG_GET_NEXT_ID, &attr, sizeof(attr)) < 0) {
			if (errno == ENOENT)
				break;
			die("BPF_PROG_GET_NEXT_ID");
		}
		id = attr.next_id;
		fd = get_fd_by_id(BPF_PROG_GET_FD_BY_ID, id);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			die("BPF_PROG_GET_FD_BY_ID");
		}
		for (;;) {
			memset(&info, 0, sizeof(info));
			info.nr_map_ids = map_cap;
			info.map_ids = ptr_to_u64(map_ids);
			if (get_info(fd, &info, sizeof(info)) < 0)
				die("BPF_OBJ_GET_INFO_BY_FD (prog)");
			if (info.nr_map_ids <= map_cap)
				break;
			map_cap = info.nr_map_ids;
			map_ids = realloc(map_ids, map_cap * sizeof(*map_ids));
			if (!map_ids)
				die("realloc");
		}
		close(fd);
		(*programs)++;
		*with_metadata += scan_metadata(map_ids, info.nr_map_ids);
	}
}

int main(int argc, char **argv)
{
	unsigned long repeat = 1, r, programs = 0, with_metadata = 0;
	double total = 0, best = 0, start, took;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			repeat = parse_count(argv[++i], "repeat");
		} else {
			fprintf(stderr, "usage: %s [--repeat R]\n", argv[0]);
			return 2;
		}
	}
	cache_grow();
	for (r = 0; r < repeat; r++) {
		cache_reset();
		start = now_seconds();
		scan(&programs, &with_metadata);
		took = now_seconds() - start;
		total += took;
		if (!r || took < best)
			best = took;
	}
	printf("{\"programs\":%lu,\"seconds\":%.9f,\"min_seconds\":%.9f,"
	       "\"repeat\":%lu,\"with_metadata\":%lu}\n",
	       programs, total / repeat, best, repeat, with_metadata);
	return 0;
}
