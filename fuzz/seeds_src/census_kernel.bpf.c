/* The kernel types the map census reads (scan/census.rs), small enough to seed the
 * `census` target with a BTF layout_from accepts. */
typedef unsigned int u32;
typedef _Bool bool;

enum bpf_map_type { BPF_MAP_TYPE_UNSPEC, BPF_MAP_TYPE_ARRAY = 2 };

struct btf {
	void *data;
	u32 id;
};

struct bpf_map {
	void *ops;
	enum bpf_map_type map_type;
	u32 key_size;
	u32 value_size;
	u32 max_entries;
	u32 id;
	u32 btf_value_type_id;
	struct btf *btf;
	char name[16];
	bool frozen;
};

struct bpf_array {
	struct bpf_map map;
	u32 elem_size;
	char value[];
};

struct bpf_array used_array;

__attribute__((section("iter/bpf_map"), used))
int bpf_iter_bpf_map(void *ctx)
{
	return 0;
}
