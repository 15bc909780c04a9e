// SPDX-License-Identifier: GPL-2.0
/* Char arrays in the disguises every consumer of BTF must see through alike: a
 * typedef'd char, a typedef'd char array, const/volatile chars, signed and unsigned
 * chars (numbers, never strings), char arrays inside structs, unions and arrays of
 * arrays, in each data section, in .metadata, and as a map's key and value. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* bpftool does not look through a typedef of the element: an array of letter_t is
 * numbers, while a typedef of an array of plain chars is a string. */
typedef char letter_t;
typedef letter_t word_t[8];
typedef char plain_word_t[8];
typedef const volatile char cv_char_t;

union tagged {
	char tag[4];
	__u32 code;
};

struct named {
	letter_t first[4];
	word_t last;
	unsigned char raw[4];
	signed char sbytes[4];
	union tagged u;
	letter_t grid[2][3];
	char names[2][4];
	plain_word_t plain;
	union {
		char anon_tag[4];
		__u32 anon_code;
	};
};

struct comm_key {
	letter_t comm[8];
	__u32 pid;
};

letter_t data_word[8] = "data";
word_t data_typedef_array = "typedef";
plain_word_t data_plain_word = "plain";
struct named data_named = { .first = "abc", .last = "xyz", .u = { .tag = "ok" },
			    .names = { "n0", "n1" }, .plain = "pw", .anon_tag = "an" };

const volatile letter_t ro_word[6] = "ro";
const volatile cv_char_t ro_cv[5] = "cv";
volatile const letter_t bpf_metadata_label[8] SEC(".rodata") = "label";

letter_t bss_word[4];
struct named bss_named;
word_t bss_words[2];

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, word_t);
} words SEC(".maps");

letter_t custom_word[5] SEC(".data.custom") = "cust";

letter_t build_tag[] SEC(".metadata") = "char-types";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct comm_key);
	__type(value, struct named);
} by_comm SEC(".maps");

SEC("socket")
int touch(void *ctx)
{
	bss_word[0] = data_word[0] + ro_word[0] + ro_cv[0] + custom_word[0];
	bss_named.first[0] = data_named.first[0] + data_typedef_array[0];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
