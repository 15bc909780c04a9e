//! BPF instructions as bpf(2) takes them: one u64 each, and the few opcodes the programs
//! bpfbind writes itself (feature probes, the scan's map census) are made of.

/// One instruction: opcode, registers, offset and immediate, little-endian as the kernel
/// reads `struct bpf_insn` on this host.
pub const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | ((dst | (src << 4)) as u64) << 8
        | (off as u16 as u64) << 16
        | (imm as u32 as u64) << 32
}

// Opcodes: class | size or operation | source (include/uapi/linux/bpf.h).
pub const LD_IMM64: u8 = 0x18;
pub const LDX_W: u8 = 0x61;
pub const LDX_B: u8 = 0x71;
pub const LDX_DW: u8 = 0x79;
pub const STX_W: u8 = 0x63;
pub const STX_DW: u8 = 0x7b;
pub const ST_W: u8 = 0x62;
pub const MOV_K: u8 = 0xb7;
pub const MOV_X: u8 = 0xbf;
pub const ADD_K: u8 = 0x07;
pub const JEQ_K: u8 = 0x15;
pub const JGT_K: u8 = 0x25;
pub const JNE_K: u8 = 0x55;
pub const JNE_X: u8 = 0x5d;
pub const CALL: u8 = 0x85;
pub const EXIT: u8 = 0x95;

/// `r0 = 0; exit`: the smallest program every kernel accepts.
pub const RET0: [u64; 2] = [insn(MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_struct_bpf_insn() {
        assert_eq!(RET0, [0xb7, 0x95]);
        // r1 = map value (ld_imm64, src BPF_PSEUDO_MAP_VALUE), fd 7
        assert_eq!(insn(LD_IMM64, 1, 2, 0, 7), 0x18 | 0x21 << 8 | 7 << 32);
        assert_eq!(
            insn(ADD_K, 2, 0, 0, -40),
            0x07 | 0x02 << 8 | 0xffff_ffd8 << 32
        );
        assert_eq!(
            insn(JNE_K, 2, 0, -1, 4),
            0x55 | 0x02 << 8 | 0xffff << 16 | 4 << 32
        );
    }
}
