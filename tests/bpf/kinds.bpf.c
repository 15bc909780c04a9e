// SPDX-License-Identifier: GPL-2.0
/* Metadata of every BTF kind a decoder meets, for output compatibility with
 * bpftool; the program uses none of it (the .rodata map is bound anyway).
 *
 * Recorded with Debian's bpftool v7.1.0 (libbpf 1.1) on kernel 6.18 after
 * `bpftool prog loadall kinds.bpf.o /sys/fs/bpf/t_kinds`; id, loaded_at,
 * map_ids and btf_id change from load to load. Indents are real tabs.
 *
 * `bpftool prog show pinned /sys/fs/bpf/t_kinds/kinds_prog`:
 *
 * 170: socket_filter  name kinds_prog  tag 59f4a931744dcdc6  gpl
 * 	loaded_at 2026-11-25T03:20:04+0000  uid 0
 * 	xlated 16B  jited 20B  memlock 4096B  map_ids 53
 * 	btf_id 112
 * 	metadata:
 * 		str = "hello, world"
 * 		empty = ""
 * 		padded = "hi"
 * 		nonprint = [97,1,98,0]
 * 		nonul = [97,98,99]
 * 		ubytes = [97,98,0,0]
 * 		ch = 65
 * 		s8 = -8
 * 		u8 = 200
 * 		s16 = -1600
 * 		u16 = 65000
 * 		s32 = -320000
 * 		u32 = 4000000000
 * 		s64 = -6400000000000
 * 		u64 = 18446744073709551615
 * 		yes = true
 * 		no = false
 * 		color = "GREEN"
 * 		color_neg = "BLUE"
 * 		color_other = 7
 * 		outer = {"x":-1,"in":{"a":2,"tag":"ab"},"arr":[1,2,3],"on":true}
 * 		word = {"u":16909060,"b":[4,3,2,1]}
 * 		bits = {"lo":0x5,"mid":0x1d,"hi":0xabcdef}
 * 		matrix = [[1,2,3],[4,5,6]]
 * 		myint = 42
 *
 * `bpftool -j prog show pinned ...` is one line; it is wrapped here only
 * after commas that precede a key, so joining the lines gives it back:
 *
 * {"id":170,"type":"socket_filter","name":"kinds_prog",
 * "tag":"59f4a931744dcdc6","gpl_compatible":true,"loaded_at":1795576804,
 * "uid":0,"bytes_xlated":16,"jited":true,"bytes_jited":20,
 * "bytes_memlock":4096,"map_ids":[53],"btf_id":112,
 * "metadata":{"str":"hello, world","empty":"","padded":"hi",
 * "nonprint":[97,1,98,0],"nonul":[97,98,99],"ubytes":[97,98,0,0],"ch":65,
 * "s8":-8,"u8":200,"s16":-1600,"u16":65000,"s32":-320000,"u32":4000000000,
 * "s64":-6400000000000,"u64":18446744073709551615,"yes":true,"no":false,
 * "color":"GREEN","color_neg":"BLUE","color_other":7,"outer":{"x":-1,
 * "in":{"a":2,"tag":"ab"},"arr":[1,2,3],"on":true},"word":{"u":16909060,
 * "b":[4,3,2,1]},"bits":{"lo":"0x5","mid":"0x1d","hi":"0xabcdef"},
 * "matrix":[[1,2,3],[4,5,6]],"myint":42}}
 *
 * Quirks worth matching:
 * - Values are compact JSON in both modes, except bitfields: bpftool prints
 *   them in hex, bare in plain mode (lo = 0x5, not valid JSON) and as JSON
 *   strings with -j ("lo":"0x5"); a signed bitfield is shown unsigned
 *   (mid = -3 in 5 bits -> 0x1d).
 * - unsigned char arrays are never strings; char arrays are strings only
 *   when printable up to a NUL that is present (nonprint, nonul: numbers).
 * - A lone char is a number (ch = 65); _Bool is true/false; an enum value
 *   with no enumerator is a number (color_other = 7); BLUE = -1 matches.
 * - With -p, arrays keep their elements on one line and put the closing
 *   bracket on the next: "arr": [1,2,3\n            ],
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define META(type, name) volatile const type bpf_metadata_##name SEC(".rodata")

/* char arrays: a string only if printable up to a NUL that is present. */
META(char, str[]) = "hello, world";
META(char, empty[]) = "";
META(char, padded[8]) = "hi";
/* Split literal: "\x01b" would be one escape, 0x1b. */
META(char, nonprint[]) = "a\x01" "b";
META(char, nonul[3]) = {'a', 'b', 'c'};
META(unsigned char, ubytes[4]) = "ab";
/* A lone char is a 1-byte signed INT: a number. */
META(char, ch) = 'A';

/* Integers by width and sign. */
META(signed char, s8) = -8;
META(unsigned char, u8) = 200;
META(short, s16) = -1600;
META(unsigned short, u16) = 65000;
META(int, s32) = -320000;
META(unsigned int, u32) = 4000000000u;
META(long long, s64) = -6400000000000ll;
META(unsigned long long, u64) = 18446744073709551615ull;

META(_Bool, yes) = 1;
META(_Bool, no) = 0;

enum color { RED, GREEN = 5, BLUE = -1 };
META(enum color, color) = GREEN;
META(enum color, color_neg) = BLUE;
META(enum color, color_other) = (enum color)7;

struct inner {
	short a;
	char tag[4];
};

struct outer {
	int x;
	struct inner in;
	unsigned int arr[3];
	_Bool on;
};

META(struct outer, outer) = {
	.x = -1,
	.in = { .a = 2, .tag = "ab" },
	.arr = { 1, 2, 3 },
	.on = 1,
};

union word {
	unsigned int u;
	unsigned char b[4];
};
META(union word, word) = { .u = 0x01020304 };

struct flags {
	unsigned int lo : 3;
	int mid : 5;
	unsigned int hi : 24;
};
META(struct flags, bits) = { .lo = 5, .mid = -3, .hi = 0xabcdef };

META(int, matrix[2][3]) = { { 1, 2, 3 }, { 4, 5, 6 } };

typedef int myint_t;
META(myint_t, myint) = 42;

SEC("socket")
int kinds_prog(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
