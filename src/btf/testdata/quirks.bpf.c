volatile const void *const bpf_metadata_p = (void *)0x1234;
volatile const void *const bpf_metadata_n = 0;
volatile const char bpf_metadata_q[] = "a\"b\\c";
volatile const float bpf_metadata_f = 1.5;
volatile const int bpf_metadata_after = 3;
__attribute__((section("socket"), used)) int prog(void *ctx) { return 0; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
