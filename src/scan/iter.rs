//! The BPF iterator programs a scan writes itself (the map census, the program holders):
//! loading one, reading what it writes to the end, and the pieces their code shares.

use std::os::fd::AsFd;
use std::sync::OnceLock;

use crate::btf::BtfIndex;
use crate::error::Result;
use crate::sys;
use crate::sys::insn::*;

pub(crate) const FUNC_SEQ_WRITE: i32 = 127;
pub(crate) const FUNC_PROBE_READ_KERNEL: i32 = 113;

/// The layout a program reads by, found once per process from the running kernel's BTF
/// (which does not change): `cell` keeps what `from` made of it, error included.
pub(crate) fn kernel_layout<L: Clone>(
    cell: &'static OnceLock<Result<L>>,
    from: fn(&[u8]) -> Result<L>,
) -> Result<L> {
    cell.get_or_init(|| {
        let kernel = crate::load::core::kernel_target()?;
        from(kernel.whole().map_or(&[][..], |b| b.bytes()))
    })
    .clone()
}

/// The offset of member `name` of struct `s` when it has the size and one of the kinds a
/// program's loads assume, and fits an instruction's offset.
pub(crate) fn field_offset(
    idx: &BtfIndex,
    s: u32,
    name: &str,
    size: u32,
    kinds: &[u32],
) -> Option<i16> {
    idx.member(s, name)
        .filter(|m| m.size == size && kinds.contains(&m.kind))
        .and_then(|m| i16::try_from(m.offset).ok())
}

/// Points every conditional jump whose offset is one of the `labels`' placeholders at
/// that label's instruction (programs are written with placeholders first, since a
/// label's position is known only once the code before it is).
pub(crate) fn resolve_jumps(p: &mut [u64], labels: &[(i16, usize)]) {
    for (i, ins) in p.iter_mut().enumerate() {
        if !matches!(*ins as u8, JEQ_K | JNE_K | JGT_K | JNE_X) {
            continue;
        }
        let off = (*ins >> 16) as u16 as i16;
        let Some(&(_, target)) = labels.iter().find(|(l, _)| *l == off) else {
            continue;
        };
        let rel = (target as i64 - i as i64 - 1) as i16;
        *ins = (*ins & !(0xffff << 16)) | u64::from(rel as u16) << 16;
    }
}

/// The native-endian u32 at `b[i..i + 4]`.
pub(crate) fn word(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Loads iterator program `insns` (named `name`, attached at BTF id `attach_btf_id`),
/// runs it and hands what it writes to `parse`, which takes whole records from the front
/// of the bytes it is given and returns how many it used (a record cut by the end of a
/// read waits for the next one), or None to stop reading. Returns the program's id, which
/// a scan must not report. Program, link and iterator are closed on every path.
pub(crate) fn run(
    name: &str,
    attach_btf_id: u32,
    insns: &[u64],
    what: &str,
    mut parse: impl FnMut(u32, &[u8]) -> Result<Option<usize>>,
) -> Result<u32> {
    // GPL: bpf_seq_write and bpf_probe_read_kernel are GPL-only.
    let prog = sys::prog_load(&sys::ProgLoad {
        expected_attach_type: sys::BPF_TRACE_ITER,
        attach_btf_id,
        ..sys::ProgLoad::gpl(name, sys::BPF_PROG_TYPE_TRACING, insns)
    })?;
    let own = sys::info::prog_info(prog.as_fd(), &mut Vec::new())?.id;
    let link = sys::iter_link_create(prog.as_fd(), what)?;
    let iter = sys::iter_create(link.as_fd(), what)?;
    drop((link, prog));
    let mut buf = vec![0u8; 64 * 1024];
    let mut have = 0;
    loop {
        let n = sys::iter_read(iter.as_fd(), &mut buf[have..], what)?;
        if n == 0 {
            break;
        }
        have += n;
        let Some(used) = parse(own, &buf[..have])? else {
            break;
        };
        buf.copy_within(used..have, 0);
        have -= used;
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_go_to_their_labels_and_others_stay() {
        let mut p = vec![
            insn(JEQ_K, 1, 0, i16::MAX, 0),
            insn(JNE_X, 1, 2, i16::MIN, 0),
            insn(JGT_K, 1, 0, 1, 0),
            insn(MOV_K, 0, 0, i16::MAX, 0),
            insn(EXIT, 0, 0, 0, 0),
        ];
        resolve_jumps(&mut p, &[(i16::MAX, 3), (i16::MIN, 4)]);
        let off = |i: u64| (i >> 16) as u16 as i16;
        assert_eq!(off(p[0]), 2);
        assert_eq!(off(p[1]), 2);
        assert_eq!(off(p[2]), 1, "a real offset is left alone");
        assert_eq!(off(p[3]), i16::MAX, "not a jump");
    }
}
