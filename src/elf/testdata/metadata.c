// Metadata in both conventions plus every kind of global data section.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_a[] SEC(".rodata") = "foo";
volatile const int bpf_metadata_b SEC(".rodata") = 1;

char commit_hash[] SEC(".metadata") = "abcdef123456";
int build_number SEC(".metadata") = 42;

int counter = 5;                      /* .data */
static int hidden_counter = 9;        /* .data, static */
int zeroed;                           /* .bss */
char big_buf[64] SEC(".data.custom") = {1, 2, 3};
static const volatile char only_static SEC(".rodata.only_static") = 7;

SEC("cgroup_skb/egress")
int prog(struct __sk_buff *skb)
{
	counter++;
	hidden_counter++;
	zeroed += bpf_metadata_b;
	big_buf[1] = only_static;
	return 1;
}

char _license[] SEC("license") = "GPL";
