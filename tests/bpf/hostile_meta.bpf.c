// SPDX-License-Identifier: GPL-2.0
/* Metadata that tries to break a Prometheus exposition: quotes, backslashes, newlines,
 * control and non-ASCII bytes, a 16 KiB string, names that clash with the exporter's
 * own labels or are not snake_case, non-string values, and 1,000 keys (k_000..k_999). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define X16 "0123456789abcdef"
#define X256 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16
#define X4K X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256

/* Printable: strings, escaped in label values. */
char quoted[] SEC(".metadata") = "say \"hi\" \\ back\\slash {x=\"1\"} # not a comment";
char long_value[] SEC(".metadata") = "\"" X4K X4K X4K X4K "\\";
/* Not printable: bpftool shows arrays of numbers. */
char newline[] SEC(".metadata") = "line one\nline two\n";
char control[] SEC(".metadata") = "\x01\x02\x1b[31mred\x7f";
char utf8[] SEC(".metadata") = "caf\xc3\xa9";
/* Names that clash or are not label names as they stand. */
char name[] SEC(".metadata") = "not the program's name";
char id[] SEC(".metadata") = "not the id";
char job[] SEC(".metadata") = "not the job";
char __reserved[] SEC(".metadata") = "double underscore";
char gitCommit[] SEC(".metadata") = "camel";
char commit_hash[] SEC(".metadata") = "h0stile";

/* Non-strings, the merged convention. */
struct build { int major; int minor; char tag[4]; };
enum flavour { PLAIN = 1, SPICY = 2 };
volatile const struct build bpf_metadata_build SEC(".rodata") = { 1, 2, "rc" };
volatile const int bpf_metadata_ints[3] SEC(".rodata") = { -1, 0, 7 };
volatile const long long bpf_metadata_negative SEC(".rodata") = -1234567890123LL;
volatile const _Bool bpf_metadata_enabled SEC(".rodata") = 1;
volatile const enum flavour bpf_metadata_flavour SEC(".rodata") = SPICY;
volatile const char bpf_metadata_tab[] SEC(".rodata") = "a\tb";

#define K(n) char k_##n[] SEC(".metadata") = "v" #n;
#define K10(p) K(p##0) K(p##1) K(p##2) K(p##3) K(p##4) K(p##5) K(p##6) K(p##7) K(p##8) K(p##9)
#define K100(p) K10(p##0) K10(p##1) K10(p##2) K10(p##3) K10(p##4) \
	K10(p##5) K10(p##6) K10(p##7) K10(p##8) K10(p##9)
K100(0) K100(1) K100(2) K100(3) K100(4) K100(5) K100(6) K100(7) K100(8) K100(9)

SEC("socket")
int hostile_prog(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
