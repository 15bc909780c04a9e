//! BTF: parse `.BTF` / `.BTF.ext`, fill in what clang leaves out, re-encode for BTF_LOAD,
//! and decode values (into `Value` for Python, or bpftool-identical JSON). Pure: no syscalls.

mod decode;
mod dump;
mod encode;
mod ext;
mod fixup;
mod lookup;
mod parse;
#[cfg(test)]
mod testutil;
mod types;

pub use dump::{json_escape_str, json_escape_str_for, BpftoolVersion, DumpOptions};
pub use types::*;

#[cfg(test)]
mod tmp_vmlinux {
    #[test]
    fn vmlinux() {
        let data = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
        let t = std::time::Instant::now();
        let btf = super::Btf::parse(&data).unwrap();
        eprintln!("parsed {} types in {:?}", btf.types.len(), t.elapsed());
        let t = std::time::Instant::now();
        let enc = btf.encode();
        eprintln!("encoded in {:?}, identical: {}", t.elapsed(), enc == data);
        let back = super::Btf::parse(&enc).unwrap();
        assert_eq!(back, btf);
        let id = btf.find("task_struct", super::kind::STRUCT).unwrap();
        eprintln!("task_struct size {}", btf.size_of(id).unwrap());
        let zeros = vec![0u8; btf.size_of(id).unwrap() as usize];
        let mut s = String::new();
        let r = btf.dump_json(id, &zeros, &mut s);
        eprintln!("dump: {:?} {} chars", r.err(), s.len());
        let v = btf.decode(id, &zeros);
        eprintln!("decode ok: {}", v.is_ok());
    }
}
