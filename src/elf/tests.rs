//! Parsing tests on bytes: hand-built objects (good and broken) and, when present, objects
//! compiled by clang from testdata/*.c.

use super::testelf::*;
use super::*;
use crate::error::Error;

const TEXT: u16 = 1;
const XDP: u16 = 2;
const DATA: u16 = 3;

/// `.text` holds `helper_a` (global; calls `helper_b` without relocation) and static
/// `helper_b` (loads `.data`+4); `xdp_main` calls `helper_b` through the `.text` section
/// symbol, `helper_a` through its own symbol, and loads `&counter` (`.data`+8).
fn sample() -> TestElf {
    let mut e = TestElf::new();
    let mut text = vec![mov(10), call(1), exit()];
    text.extend(ld64(0, 4));
    text.push(exit());
    assert_eq!(e.code_section(".text", code(&text)), TEXT);
    let mut xdp = vec![call(2), call(-1)];
    xdp.extend(ld64(0, 0));
    xdp.push(exit());
    assert_eq!(e.code_section("xdp", code(&xdp)), XDP);
    assert_eq!(
        e.section(
            ".data",
            SHT_PROGBITS,
            SHF_ALLOC | SHF_WRITE,
            (0..16).collect()
        ),
        DATA
    );
    e.section("license", SHT_PROGBITS, SHF_ALLOC, b"GPL\0".to_vec());
    e.bss(".bss", 8);
    e.section(".rodata", SHT_PROGBITS, SHF_ALLOC, vec![1, 2, 3, 4]);
    e.section(
        "version",
        SHT_PROGBITS,
        SHF_ALLOC,
        0x050a00u32.to_le_bytes().to_vec(),
    );
    let text_sym = e.symbol("", TEXT, 0, 0, STB_LOCAL, STT_SECTION);
    let data_sym = e.symbol("", DATA, 0, 0, STB_LOCAL, STT_SECTION);
    e.symbol("helper_b", TEXT, 24, 24, STB_LOCAL, STT_FUNC);
    let helper_a = e.symbol("helper_a", TEXT, 0, 24, STB_GLOBAL, STT_FUNC);
    e.symbol("xdp_main", XDP, 0, 40, STB_GLOBAL, STT_FUNC);
    let counter = e.symbol("counter", DATA, 8, 4, STB_GLOBAL, STT_OBJECT);
    e.rel_section(
        XDP,
        &[
            rel(0, text_sym, 10),
            rel(8, helper_a, 10),
            rel(16, counter, 1),
        ],
    );
    e.rel_section(TEXT, &[rel(24, data_sym, 1)]);
    e
}

/// Each map's (name in the object, name the kernel gets).
fn map_names(obj: &ObjectSpec) -> Vec<(&str, &str)> {
    obj.maps
        .iter()
        .map(|m| (m.name.as_str(), m.kernel_name.as_str()))
        .collect()
}

fn parse(bytes: &[u8]) -> crate::error::Result<ObjectSpec> {
    ObjectSpec::parse(bytes, "sample")
}

#[track_caller]
fn format_err(bytes: &[u8], needle: &str) -> (String, u64, String) {
    match parse(bytes) {
        Err(Error::Format {
            section,
            offset,
            msg,
        }) => {
            let all = format!("{section} {msg}");
            assert!(
                all.contains(needle),
                "expected '{needle}' in: section '{section}': {msg}"
            );
            (section, offset, msg)
        }
        other => panic!("expected a Format error containing '{needle}', got {other:?}"),
    }
}

#[test]
fn sample_links_and_relocates() {
    let obj = parse(&sample().build()).unwrap();
    assert_eq!(obj.name, "sample");
    assert_eq!(obj.license, "GPL");
    assert_eq!(obj.kern_version, 0x050a00);
    assert!(obj.btf.is_none());
    assert_eq!(obj.programs.len(), 1);
    let p = &obj.programs[0];
    assert_eq!((p.name.as_str(), p.section.as_str()), ("xdp_main", "xdp"));
    assert_eq!(
        (p.prog_type, p.expected_attach_type, p.prog_flags),
        (6, 37, 0)
    );
    // xdp_main (0..5), then helper_b (5..8) reached by the first call, then helper_a (8..11).
    assert_eq!(p.insns.len(), 11);
    assert_eq!(p.insns[0].imm, 4, "call helper_b: 5 - 0 - 1");
    assert_eq!(p.insns[1].imm, 6, "call helper_a: 8 - 1 - 1");
    assert_eq!(p.insns[5].code, 0x18);
    assert_eq!(p.insns[8].imm, 10);
    assert_eq!(p.insns[9].imm, -5, "helper_a's call to helper_b: 5 - 9 - 1");
    assert_eq!(p.insns[10].code, 0x95);
    assert_eq!(
        p.relocs,
        vec![
            Reloc {
                insn: 2,
                kind: RelocKind::MapValue { map: 0, offset: 8 }
            },
            Reloc {
                insn: 5,
                kind: RelocKind::MapValue { map: 0, offset: 4 }
            },
        ]
    );
    assert!(p.func_info.is_empty() && p.line_info.is_empty());

    assert_eq!(
        map_names(&obj),
        [
            (".data", "sample.data"),
            (".bss", "sample.bss"),
            (".rodata", "sample.rodata")
        ]
    );
    let data = &obj.maps[0];
    assert_eq!(
        (
            data.map_type,
            data.key_size,
            data.value_size,
            data.max_entries
        ),
        (2, 4, 16, 1)
    );
    assert_eq!(
        data.initial.as_deref(),
        Some(&(0..16).collect::<Vec<u8>>()[..])
    );
    assert_eq!((data.flags, data.freeze), (0, false));
    assert_eq!(
        data.origin,
        MapOrigin::Data {
            section: ".data".into()
        }
    );
    assert_eq!(obj.maps[1].initial.as_deref(), Some(&[0u8; 8][..]));
    let ro = &obj.maps[2];
    assert_eq!(
        (ro.flags, ro.freeze, ro.btf_value_type_id),
        (sections::BPF_F_RDONLY_PROG, true, 0)
    );
    assert!(ro.is_metadata());
}

#[test]
fn object_names() {
    use std::path::Path;
    assert_eq!(
        object_name_from_path(Path::new("/x/metadata_used.bpf.o")),
        "metadata_used"
    );
    assert_eq!(object_name_from_path(Path::new("prog.o")), "prog");
    assert_eq!(object_name_from_path(Path::new("prog")), "prog");
}

#[test]
fn truncated_headers_are_format_errors() {
    let bytes = sample().build();
    format_err(&[], "bad magic");
    format_err(&bytes[..10], "truncated");
    format_err(&bytes[..63], "truncated");
    // The header alone: the section table is past the end.
    format_err(&bytes[..64], "section header table");
}

#[test]
fn wrong_machine_class_or_endianness() {
    let mut e = sample();
    e.machine = 62;
    format_err(&e.build(), "EM_BPF");
    let mut bytes = sample().build();
    bytes[4] = 1;
    format_err(&bytes, "64-bit");
    let mut bytes = sample().build();
    bytes[5] = 2;
    format_err(&bytes, "little-endian");
    let mut bytes = sample().build();
    bytes[16] = 2; // ET_EXEC
    format_err(&bytes, "relocatable");
}

#[test]
fn section_past_eof() {
    let (mut bytes, layout) = sample().build_with_layout();
    let at = layout.shdr[XDP as usize] + 24; // sh_offset
    bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let (section, offset, _) = format_err(&bytes, "outside the file");
    assert_eq!((section.as_str(), offset), ("xdp", 1 << 40));
    // A size that runs past the end.
    let (mut bytes, layout) = sample().build_with_layout();
    let at = layout.shdr[DATA as usize] + 32; // sh_size
    bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    format_err(&bytes, ".data");
}

#[test]
fn relocation_past_the_section() {
    let mut e = sample();
    let sym = e.symbols.len() as u32;
    e.rel_section(XDP, &[rel(40, sym, 1)]);
    let (section, _, msg) = format_err(&e.build(), "not an instruction");
    assert_eq!(section, ".relxdp");
    assert!(msg.contains("0x28"), "{msg}");
    let mut e = sample();
    e.rel_section(XDP, &[rel(4, sym, 1)]);
    format_err(&e.build(), "not an instruction");
}

#[test]
fn bad_symbol_index() {
    let mut e = sample();
    e.rel_section(XDP, &[rel(16, 99, 1)]);
    format_err(&e.build(), "symbol #99");
    let mut e = sample();
    e.rel_section(XDP, &[rel(16, 0, 1)]);
    format_err(&e.build(), "symbol #0");
    // A symbol pointing to a section that does not exist.
    let mut e = sample();
    e.symbol("ghost", 77, 0, 0, STB_GLOBAL, STT_OBJECT);
    format_err(&e.build(), "section #77");
}

#[test]
fn unknown_program_section() {
    // Parsed with no program type (libbpf refuses it only when the program is loaded).
    let mut e = TestElf::new();
    let s = e.code_section("not_a_type/foo", code(&[mov(0), exit()]));
    e.symbol("p", s, 0, 16, STB_GLOBAL, STT_FUNC);
    let obj = ObjectSpec::parse(&e.build(), "x").unwrap();
    assert_eq!(obj.programs[0].prog_type, 0);
    assert_eq!(obj.programs[0].section, "not_a_type/foo");
}

#[test]
fn broken_code_sections() {
    let mut e = TestElf::new();
    let s = e.code_section("xdp", vec![0; 12]);
    e.symbol("p", s, 0, 8, STB_GLOBAL, STT_FUNC);
    format_err(&e.build(), "8-byte instructions");

    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[mov(0), exit()]));
    e.symbol("p", s, 8, 16, STB_GLOBAL, STT_FUNC);
    format_err(&e.build(), "crosses the end");

    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[mov(0), exit()]));
    e.symbol("p", s, 0, u64::MAX, STB_GLOBAL, STT_FUNC);
    format_err(&e.build(), "crosses the end");

    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[mov(0), exit()]));
    e.symbol("p", s, 4, 8, STB_GLOBAL, STT_FUNC);
    format_err(&e.build(), "whole instructions");
}

/// A legacy `maps` section with one definition of `words` u32s, and a program using it.
fn legacy_object(words: &[u32]) -> Vec<u8> {
    let mut e = TestElf::new();
    let def: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let size = def.len() as u64;
    let maps = e.section("maps", 1, 3, def); // SHT_PROGBITS, SHF_WRITE | SHF_ALLOC
    let m = e.symbol("legacy", maps, 0, size, STB_GLOBAL, STT_OBJECT);
    let ld = ld64(0, 0);
    let s = e.code_section("socket", code(&[ld[0], ld[1], mov(0), exit()]));
    e.symbol("p", s, 0, 32, STB_GLOBAL, STT_FUNC);
    e.rel_section(s, &[rel(0, m, 1)]);
    e.build()
}

#[test]
fn legacy_map_definitions() {
    let obj = ObjectSpec::parse(&legacy_object(&[1, 4, 8, 16, 1]), "x").unwrap();
    let m = &obj.maps[0];
    assert_eq!(m.name, "legacy");
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries, m.flags),
        (1, 4, 8, 16, 1)
    );
    assert_eq!(obj.programs[0].relocs[0].kind, RelocKind::Map { map: 0 });
    // iproute2's longer definition, unset fields: the same map.
    assert!(ObjectSpec::parse(&legacy_object(&[1, 4, 8, 16, 1, 0, 0]), "x").is_ok());
    // Fields bpfbind does not act on (iproute2's id and pinning) are refused, not dropped.
    match ObjectSpec::parse(&legacy_object(&[1, 4, 8, 16, 0, 7, 2]), "x") {
        Err(Error::Unsupported { detail, .. }) => assert!(detail.contains("'legacy'")),
        other => panic!("expected an unsupported legacy field, got {other:?}"),
    }
    // Shorter than struct bpf_map_def.
    format_err(&legacy_object(&[1, 4, 8]), "bpf_map_def");
}

#[test]
fn static_programs_load_as_cilium_loads_them() {
    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[mov(0), exit()]));
    e.symbol("p", s, 0, 16, STB_LOCAL, STT_FUNC);
    let obj = ObjectSpec::parse(&e.build(), "x").unwrap();
    assert_eq!(obj.programs.len(), 1);
    assert_eq!(obj.programs[0].name, "p");
    assert!(obj.programs[0].autoload);
}

#[test]
fn unsupported_relocations() {
    // A kfunc / extern variable.
    let mut e = TestElf::new();
    let mut insns = ld64(0, 0).to_vec();
    insns.push(exit());
    let s = e.code_section("xdp", code(&insns));
    let ext = e.symbol("CONFIG_HZ", 0, 0, 0, STB_GLOBAL, STT_NOTYPE);
    e.symbol("p", s, 0, 24, STB_GLOBAL, STT_FUNC);
    e.rel_section(s, &[rel(0, ext, 1)]);
    let (_, _, msg) = format_err(&e.build(), "no .BTF section");
    assert!(msg.contains("CONFIG_HZ"), "{msg}");

    // A relocation on an instruction that cannot take one.
    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[mov(0), exit()]));
    let p = e.symbol("p", s, 0, 16, STB_GLOBAL, STT_FUNC);
    e.rel_section(s, &[rel(0, p, 1)]);
    format_err(&e.build(), "neither a call");

    // A helper call with a relocation.
    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[helper(1), exit()]));
    let p = e.symbol("p", s, 0, 16, STB_GLOBAL, STT_FUNC);
    e.rel_section(s, &[rel(0, p, 10)]);
    format_err(&e.build(), "BPF_PSEUDO_CALL");

    // A call into a section other than .text.
    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[call(-1), exit()]));
    let p = e.symbol("p", s, 0, 16, STB_GLOBAL, STT_FUNC);
    e.rel_section(s, &[rel(0, p, 10)]);
    format_err(&e.build(), "only target functions in .text");

    // A call without relocation from a program section.
    let mut e = TestElf::new();
    let s = e.code_section("xdp", code(&[call(0), exit()]));
    e.symbol("p", s, 0, 16, STB_GLOBAL, STT_FUNC);
    format_err(&e.build(), "outside .text");

    // A call into the middle of a function.
    let mut e = sample();
    e.sections[XDP as usize - 1].data[4..8].copy_from_slice(&3i32.to_le_bytes());
    format_err(&e.build(), "starts no function");

    // Data in an empty section, and in a section that is not data at all.
    let mut e = TestElf::new();
    let mut insns = ld64(0, 0).to_vec();
    insns.push(exit());
    let s = e.code_section("xdp", code(&insns));
    let d = e.section(".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, Vec::new());
    let o = e.section("other", SHT_PROGBITS, SHF_ALLOC, vec![0; 8]);
    let ds = e.symbol("", d, 0, 0, STB_LOCAL, STT_SECTION);
    let os = e.symbol("x", o, 0, 8, STB_LOCAL, STT_OBJECT);
    e.symbol("p", s, 0, 24, STB_GLOBAL, STT_FUNC);
    let mut bad = e;
    bad.rel_section(s, &[rel(0, ds, 1)]);
    format_err(&bad.build(), "empty");
    let _ = os;
}

#[test]
fn legacy_maps_and_bad_version() {
    let mut e = sample();
    e.section("maps", SHT_PROGBITS, SHF_ALLOC, vec![0; 20]);
    format_err(&e.build(), "legacy");
    let mut e = sample();
    e.section("version", SHT_PROGBITS, SHF_ALLOC, vec![0; 3]);
    format_err(&e.build(), "4-byte");
}

#[test]
fn btf_maps_need_btf() {
    let mut e = sample();
    e.section(".maps", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, vec![0; 32]);
    format_err(&e.build(), ".BTF");
}

#[test]
fn sleepable_and_frags_flags() {
    for (sec, ty, flags) in [
        ("syscall", 31, sections::BPF_F_SLEEPABLE),
        ("xdp.frags", 6, sections::BPF_F_XDP_HAS_FRAGS),
    ] {
        let mut e = TestElf::new();
        let s = e.code_section(sec, code(&[mov(0), exit()]));
        e.symbol("p", s, 0, 16, STB_GLOBAL, STT_FUNC);
        let obj = parse(&e.build()).unwrap();
        assert_eq!(
            (obj.programs[0].prog_type, obj.programs[0].prog_flags),
            (ty, flags)
        );
    }
}

#[test]
fn several_programs_per_section_and_recursion() {
    // Two programs in one section; a .text function that calls itself.
    let mut e = TestElf::new();
    let t = e.code_section(".text", code(&[call(-1), exit()]));
    let s = e.code_section(
        "kprobe/do_sys_open",
        code(&[call(-1), exit(), mov(1), call(-1), exit()]),
    );
    e.symbol("rec", t, 0, 16, STB_LOCAL, STT_FUNC);
    let ts = e.symbol("", t, 0, 0, STB_LOCAL, STT_SECTION);
    e.symbol("a", s, 0, 16, STB_GLOBAL, STT_FUNC);
    e.symbol("b", s, 16, 24, STB_GLOBAL, STT_FUNC);
    e.rel_section(s, &[rel(0, ts, 10), rel(24, ts, 10)]);
    let obj = parse(&e.build()).unwrap();
    let [a, b] = &obj.programs[..] else {
        panic!("{:?}", obj.programs)
    };
    assert_eq!(
        (a.name.as_str(), a.attach_target.as_deref()),
        ("a", Some("do_sys_open"))
    );
    assert_eq!(a.insns.len(), 4);
    assert_eq!((a.insns[0].imm, a.insns[2].imm), (1, -1));
    assert_eq!(b.name, "b");
    assert_eq!(b.insns.len(), 5);
    assert_eq!((b.insns[1].imm, b.insns[3].imm), (1, -1));
}

/// Any prefix of a valid object, and any single corrupted byte, gives a result, not a panic.
fn no_panic_on_damage(bytes: &[u8], step: usize) {
    for len in 0..bytes.len() {
        let _ = ObjectSpec::parse(&bytes[..len], "fuzz");
    }
    let mut copy = bytes.to_vec();
    for i in (0..bytes.len()).step_by(step) {
        for v in [0x00, 0xff, 0x80, 0x01, bytes[i] ^ 0x10] {
            copy[i] = v;
            let _ = ObjectSpec::parse(&copy, "fuzz");
        }
        copy[i] = bytes[i];
    }
}

#[test]
fn damaged_sample_never_panics() {
    no_panic_on_damage(&sample().build(), 1);
}

mod compiled {
    //! Objects compiled by clang (`make -C src/elf/testdata`), checked against
    //! `llvm-objdump -d -r` and `bpftool btf dump file`.
    use super::*;
    use crate::btf::Type;

    const MULTI: &[u8] = include_bytes!("testdata/multi.o");
    const METADATA: &[u8] = include_bytes!("testdata/metadata.o");

    fn prog<'a>(obj: &'a ObjectSpec, name: &str) -> &'a ProgramSpec {
        obj.programs
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no program {name}"))
    }

    #[test]
    fn multi_programs() {
        let obj = ObjectSpec::parse(MULTI, "multi").unwrap();
        assert_eq!(obj.license, "GPL");
        let names: Vec<_> = obj
            .programs
            .iter()
            .map(|p| (p.name.as_str(), p.section.as_str(), p.prog_type))
            .collect();
        assert_eq!(
            names,
            [
                ("xdp_prog", "xdp", 6),
                ("egress", "cgroup_skb/egress", 8),
                ("tp_a", "tp/syscalls/sys_enter_getpid", 5),
                ("tp_b", "tp/syscalls/sys_enter_getpid", 5),
                ("sock", "socket", 1),
            ]
        );
        // .text (llvm-objdump): global_helper 0..9, twice 9..24, loop_cb 24..33, bump 33..56.
        // xdp_prog (9 insns) calls twice, which calls bump twice.
        let xdp = prog(&obj, "xdp_prog");
        assert_eq!(xdp.insns.len(), 9 + 15 + 23);
        assert_eq!(xdp.insns[1].imm, 9 - 1 - 1);
        assert_eq!(xdp.insns[9 + 1].imm, 24 - 10 - 1, "twice -> bump");
        assert_eq!(xdp.insns[9 + 5].imm, 24 - 14 - 1, "twice -> bump again");
        let kinds: Vec<_> = xdp.relocs.iter().map(|r| (r.insn, r.kind)).collect();
        // twice loads `threshold` (.rodata, map 3) at 9+8; bump loads `counts` (map 0) twice.
        assert_eq!(
            kinds,
            [
                (17, RelocKind::MapValue { map: 3, offset: 0 }),
                (24 + 5, RelocKind::Map { map: 0 }),
                (24 + 16, RelocKind::Map { map: 0 }),
            ]
        );
        // egress: bpf_loop(loop_cb) then global_helper; loop_cb appended first (at 11).
        let eg = prog(&obj, "egress");
        assert_eq!(eg.insns.len(), 11 + 9 + 9);
        assert_eq!((eg.insns[2].code, eg.insns[2].src()), (0x18, 4));
        assert_eq!(eg.insns[2].imm, 11 - 2 - 1, "callback address -> loop_cb");
        assert_eq!(eg.insns[8].imm, 20 - 8 - 1, "call global_helper");
        // Two programs of one section each get their own copy of bump.
        let (a, b) = (prog(&obj, "tp_a"), prog(&obj, "tp_b"));
        assert_eq!(a.insns.len(), 4 + 23);
        assert_eq!(a.insns[1].imm, 4 - 1 - 1);
        assert_eq!(b.insns.len(), 8 + 9 + 23);
        assert_eq!((b.insns[1].imm, b.insns[4].imm), (8 - 1 - 1, 17 - 4 - 1));
        let sock = prog(&obj, "sock");
        assert_eq!(sock.insns.len(), 2);
        assert!(sock.relocs.is_empty());

        for p in &obj.programs {
            // One func_info per function, at its start; line_info sorted and inside.
            assert!(!p.func_info.is_empty(), "{}", p.name);
            assert_eq!(p.func_info[0].insn_off, 0);
            assert!(p
                .func_info
                .windows(2)
                .all(|w| w[0].insn_off < w[1].insn_off));
            assert!(p
                .line_info
                .windows(2)
                .all(|w| w[0].insn_off <= w[1].insn_off));
            assert!(p
                .line_info
                .iter()
                .all(|l| (l.insn_off as usize) < p.insns.len()));
            assert_eq!(p.line_info[0].insn_off, 0);
        }
        let fi: Vec<u32> = xdp.func_info.iter().map(|f| f.insn_off).collect();
        assert_eq!(fi, [0, 9, 24]);
        let btf = obj.btf.as_ref().unwrap();
        let fname = |id: u32| match &btf.types[id as usize] {
            Type::Func { name, .. } => name.clone(),
            t => panic!("{t:?}"),
        };
        let names: Vec<_> = xdp.func_info.iter().map(|f| fname(f.type_id)).collect();
        assert_eq!(names, ["xdp_prog", "twice", "bump"]);
        let names: Vec<_> = eg.func_info.iter().map(|f| fname(f.type_id)).collect();
        assert_eq!(names, ["egress", "loop_cb", "global_helper"]);
    }

    #[test]
    fn multi_maps() {
        let obj = ObjectSpec::parse(MULTI, "multi").unwrap();
        let btf = obj.btf.as_ref().unwrap();
        assert_eq!(
            map_names(&obj),
            [
                ("counts", "counts"),
                ("raw", "raw"),
                (".bss", "multi.bss"),
                (".rodata", "multi.rodata")
            ]
        );
        let counts = &obj.maps[0];
        assert_eq!(counts.origin, MapOrigin::Btf);
        assert_eq!(
            (
                counts.map_type,
                counts.key_size,
                counts.value_size,
                counts.max_entries
            ),
            (1, 4, 8, 128)
        );
        assert_eq!(
            (counts.flags, counts.pinning, counts.initial.as_ref()),
            (1, 0, None)
        );
        assert!(
            matches!(&btf.types[counts.btf_key_type_id as usize], Type::Typedef { name, .. } if name == "__u32")
        );
        assert!(
            matches!(&btf.types[counts.btf_value_type_id as usize], Type::Typedef { name, .. } if name == "__u64")
        );
        let raw = &obj.maps[1];
        assert_eq!(
            (
                raw.map_type,
                raw.key_size,
                raw.value_size,
                raw.max_entries,
                raw.pinning
            ),
            (2, 4, 16, 4, 1)
        );
        assert_eq!((raw.btf_key_type_id, raw.btf_value_type_id), (0, 0));
        // `hits` is global: mmapable; .rodata's `threshold` is global too.
        let bss = &obj.maps[2];
        assert_eq!(
            (bss.value_size, bss.flags, bss.freeze),
            (8, sections::BPF_F_MMAPABLE, false)
        );
        let ro = &obj.maps[3];
        assert_eq!(
            ro.flags,
            sections::BPF_F_RDONLY_PROG | sections::BPF_F_MMAPABLE
        );
        assert_eq!(ro.initial.as_deref(), Some(&3u32.to_le_bytes()[..]));
        assert!(
            matches!(&btf.types[ro.btf_value_type_id as usize], Type::Datasec { name, size: 4, .. } if name == ".rodata")
        );
    }

    #[test]
    fn metadata_sections() {
        let obj = ObjectSpec::parse(METADATA, "metadata_used.bpf").unwrap();
        let btf = obj.btf.as_ref().unwrap();
        let summary: Vec<_> = obj
            .maps
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.kernel_name.as_str(),
                    m.value_size,
                    m.flags,
                    m.freeze,
                )
            })
            .collect();
        const RO: u32 = sections::BPF_F_RDONLY_PROG;
        const MM: u32 = sections::BPF_F_MMAPABLE;
        assert_eq!(
            summary,
            [
                (".rodata", "metadata.rodata", 8, RO | MM, true),
                (".metadata", "metada.metadata", 20, RO | MM, true),
                (".data", "metadata.data", 8, MM, false),
                (".data.custom", ".data.custom", 64, MM, false),
                (".rodata.only_static", ".rodata.only_st", 1, RO, true),
                (".bss", "metadata.bss", 4, MM, false),
            ]
        );
        assert_eq!(obj.maps[1].origin, MapOrigin::Metadata);
        assert!(
            obj.maps[0].is_metadata() && obj.maps[1].is_metadata() && !obj.maps[2].is_metadata()
        );
        assert_eq!(
            &obj.maps[1].initial.as_ref().unwrap()[..13],
            b"abcdef123456\0"
        );
        assert_eq!(obj.maps[5].initial.as_deref(), Some(&[0u8; 4][..]));
        // Every internal map points at its DATASEC, whose size and offsets are now filled in.
        for m in &obj.maps {
            let Type::Datasec { name, size, vars } = &btf.types[m.btf_value_type_id as usize]
            else {
                panic!("{}: {:?}", m.name, btf.types[m.btf_value_type_id as usize]);
            };
            assert_eq!((name, *size), (&m.name, m.value_size));
            if m.name == ".rodata" {
                let offs: Vec<_> = vars.iter().map(|v| (v.offset, v.size)).collect();
                assert_eq!(offs, [(0, 4), (4, 4)]);
            }
            if m.name == ".metadata" {
                let offs: Vec<_> = vars.iter().map(|v| v.offset).collect();
                assert_eq!(offs, [0, 16]);
            }
        }
        let p = &obj.programs[0];
        assert_eq!(
            (p.name.as_str(), p.prog_type, p.expected_attach_type),
            ("prog", 8, 1)
        );
        let relocs: Vec<_> = p.relocs.iter().map(|r| (r.insn, r.kind)).collect();
        assert_eq!(
            relocs,
            [
                (0, RelocKind::MapValue { map: 2, offset: 0 }),
                (5, RelocKind::MapValue { map: 2, offset: 4 }),
                (10, RelocKind::MapValue { map: 0, offset: 4 }),
                (13, RelocKind::MapValue { map: 5, offset: 0 }),
                (18, RelocKind::MapValue { map: 4, offset: 0 }),
                (21, RelocKind::MapValue { map: 3, offset: 0 }),
            ]
        );
    }

    #[track_caller]
    fn refused(bytes: &[u8], needle: &str) -> String {
        match ObjectSpec::parse(bytes, "x") {
            Err(e @ Error::Format { .. }) => {
                let text = e.to_string();
                assert!(text.contains(needle), "expected '{needle}' in: {text}");
                text
            }
            other => panic!("expected a Format error containing '{needle}', got {other:?}"),
        }
    }

    #[test]
    fn unsupported_features_are_named() {
        let text = refused(
            include_bytes!("testdata/bad_field.o"),
            "unknown map definition field 'bogus'",
        );
        assert!(text.contains("map 'm'"), "{text}");
    }

    /// libbpf 1.1 (`bpftool -d prog loadall kconfig.o`) prints this order and these offsets.
    #[test]
    fn externs_are_ordered_and_laid_out_like_libbpf() {
        let obj = ObjectSpec::parse(include_bytes!("testdata/kconfig.o"), "kconfig").unwrap();
        let layout: Vec<(&str, u32, bool)> = obj
            .externs
            .iter()
            .map(|e| match e.kind {
                ExternKind::Kconfig(k) => (e.name.as_str(), k.offset, e.weak),
                ExternKind::Ksym { .. } => (e.name.as_str(), u32::MAX, e.weak),
            })
            .collect();
        assert_eq!(
            layout,
            [
                ("CONFIG_U64", 0, true),
                ("CONFIG_TRI", 8, true),
                ("LINUX_KERNEL_VERSION", 12, false),
                ("CONFIG_S16", 16, true),
                ("CONFIG_A", 18, true),
                ("CONFIG_B", 19, true),
                ("CONFIG_STR", 20, true),
                ("some_kfunc", u32::MAX, false),
                ("some_ksym", u32::MAX, false),
            ]
        );
        let kinds: Vec<_> = obj
            .externs
            .iter()
            .filter_map(|e| match e.kind {
                ExternKind::Kconfig(k) => Some((k.ty, k.size, k.signed)),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (KcfgType::Int, 8, false),
                (KcfgType::Tristate, 4, false),
                (KcfgType::Int, 4, true),
                (KcfgType::Int, 2, true),
                (KcfgType::Bool, 1, false),
                (KcfgType::Bool, 1, false),
                (KcfgType::CharArr, 5, false),
            ]
        );
        assert!(
            matches!(obj.externs[7].kind, ExternKind::Ksym { is_func: true, type_id } if type_id != 0)
        );
        assert!(matches!(
            obj.externs[8].kind,
            ExternKind::Ksym {
                is_func: false,
                type_id: 0
            }
        ));

        // The .kconfig map: 25 bytes, read-only to programs, mmapable, frozen, named as
        // libbpf names it, its value type the DATASEC.
        let m = &obj.maps[obj.kconfig_map().unwrap()];
        assert_eq!(
            (m.kernel_name.as_str(), m.value_size, m.flags, m.freeze),
            (
                "kconfig.kconfig",
                25,
                sections::BPF_F_RDONLY_PROG | sections::BPF_F_MMAPABLE,
                true
            )
        );
        assert!(!m.is_metadata());
        let btf = obj.btf.as_ref().unwrap();
        let Type::Datasec { name, size, vars } = &btf.types[m.btf_value_type_id as usize] else {
            panic!()
        };
        assert_eq!((name.as_str(), *size), (".kconfig", 25));
        let vars: Vec<(&str, u32, u32)> = vars
            .iter()
            .map(|v| match &btf.types[v.type_id as usize] {
                Type::Var { name, linkage, .. } => (name.as_str(), v.offset, *linkage),
                t => panic!("{t:?}"),
            })
            .collect();
        assert_eq!(
            vars,
            [
                ("CONFIG_U64", 0, 1),
                ("CONFIG_TRI", 8, 1),
                ("LINUX_KERNEL_VERSION", 12, 1),
                ("CONFIG_S16", 16, 1),
                ("CONFIG_A", 18, 1),
                ("CONFIG_B", 19, 1),
                ("CONFIG_STR", 20, 1)
            ]
        );

        // .ksyms: 4-byte slots; the kfunc's slot is the added dummy_ksym VAR, the FUNC made
        // global, its unnamed parameter named; the untyped ksym an allocated int.
        let ksyms = btf.find(".ksyms", crate::btf::kind::DATASEC).unwrap();
        let Type::Datasec { size, vars, .. } = &btf.types[ksyms as usize] else {
            panic!()
        };
        assert_eq!(*size, 8);
        let slots: Vec<_> = vars
            .iter()
            .map(|v| (btf.name_of(v.type_id), v.offset, v.size))
            .collect();
        assert_eq!(slots, [("dummy_ksym", 0, 4), ("some_ksym", 4, 4)]);
        let Type::Func {
            linkage, type_id, ..
        } = &btf.types[obj.externs[7].btf_id as usize]
        else {
            panic!()
        };
        assert_eq!(*linkage, 1);
        let Type::FuncProto { params, .. } = &btf.types[*type_id as usize] else {
            panic!()
        };
        assert_eq!(params[0].name, "dummy_ksym");
        // The kernel takes what libbpf gives it: the rewritten BTF encodes and parses back.
        assert_eq!(
            crate::btf::Btf::parse(&btf.encode()).unwrap().types,
            btf.types
        );

        // Relocations: the kfunc call and the 8 loads, each naming its extern.
        let p = &obj.programs[0];
        let ext_of = |name: &str| obj.externs.iter().position(|e| e.name == name).unwrap();
        assert_eq!(
            p.relocs[0],
            Reloc {
                insn: 1,
                kind: RelocKind::ExternCall {
                    ext: ext_of("some_kfunc")
                }
            }
        );
        assert_eq!(
            p.relocs[1].kind,
            RelocKind::Extern {
                ext: ext_of("CONFIG_B")
            }
        );
        assert_eq!(p.relocs.len(), 9);
    }

    #[test]
    fn kconfig_types_libbpf_refuses_are_refused() {
        use crate::btf::Btf;
        let mut b = crate::btf::testutil::RawBtf::new();
        let int3 = b.int("int3", 3, 0, 24); // 1
        let boolean = b.int("_Bool", 4, 4, 32); // 2
        let e = b.enum32("other", 4, false, &[("A", 0)]); // 3
        let tri = b.enum32("libbpf_tristate", 4, false, &[("TRI_NO", 0)]); // 4
        let ch = b.int("char", 1, 1, 8); // 5
        let arr = b.array(ch, 1, 0); // 6
        let btf = Btf::parse(&b.bytes()).unwrap();
        for bad in [int3, boolean, e, arr] {
            assert_eq!(
                super::super::externs::kcfg_type(&btf, bad, 0),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            super::super::externs::kcfg_type(&btf, tri, 0),
            Some((KcfgType::Tristate, false))
        );
        assert_eq!(
            super::super::externs::kcfg_type(&btf, ch, 0),
            Some((KcfgType::Char, true))
        );
    }

    #[test]
    fn map_in_map_and_prog_array_initialisers() {
        use crate::elf::{map_type, SlotTarget};
        let obj = ObjectSpec::parse(include_bytes!("testdata/map_in_map.o"), "x").unwrap();
        let idx = |n: &str| obj.maps.iter().position(|m| m.name == n).unwrap();
        let outer = &obj.maps[idx("outer")];
        assert_eq!(outer.map_type, map_type::ARRAY_OF_MAPS);
        assert_eq!(outer.value_size, 4);
        let inner = outer.inner.as_deref().expect("inner template");
        assert_eq!(inner.name, "outer.inner");
        assert_eq!(
            (inner.map_type, inner.key_size, inner.value_size),
            (2, 4, 4)
        );
        assert_eq!(
            outer.init_slots,
            vec![
                (0, SlotTarget::Map(idx("inner_b"))),
                (2, SlotTarget::Map(idx("inner_a")))
            ]
        );
        let jumps = &obj.maps[idx("jumps")];
        assert_eq!(jumps.map_type, map_type::PROG_ARRAY);
        assert!(jumps.inner.is_none());
        assert_eq!(
            jumps.init_slots,
            vec![(1, SlotTarget::Program("tail".into()))]
        );
    }

    #[test]
    fn damaged_compiled_objects_never_panic() {
        no_panic_on_damage(METADATA, 3);
        no_panic_on_damage(MULTI, 7);
    }
}

/// An object with kconfig externs `CONFIG_0`, `CONFIG_1`, ... of the given BTF types,
/// in `.kconfig`, and one XDP program.
fn kconfig_object(b: &mut crate::btf::testutil::RawBtf, types: &[u32]) -> Vec<u8> {
    let vars: Vec<u32> = (0..types.len())
        .map(|i| b.var(&format!("CONFIG_{i}"), types[i], 2))
        .collect();
    let secinfo: Vec<_> = vars.iter().map(|&v| (v, 0, 0)).collect();
    b.datasec(".kconfig", 0, &secinfo);
    let mut e = TestElf::new();
    e.code_section("xdp", code(&[mov(0), exit()]));
    e.section("license", SHT_PROGBITS, SHF_ALLOC, b"GPL\0".to_vec());
    e.section(".BTF", SHT_PROGBITS, 0, b.bytes());
    e.symbol("xdp_main", 1, 0, 16, STB_GLOBAL, STT_FUNC);
    for i in 0..types.len() {
        e.symbol(&format!("CONFIG_{i}"), 0, 0, 0, STB_GLOBAL, 0);
    }
    e.build()
}

/// Two `char[3 GiB]` kconfig externs wrapped the u32 offsets (a panic with overflow
/// checks); one of 3 GiB asked for a 3 GiB map value, zeroed up front. Both are format
/// errors now, past 1 GiB as for data sections.
#[test]
fn kconfig_externs_too_large_are_format_errors() {
    // Types 2 and 3: char[3 GiB] and char[16].
    let object = |types: &[u32]| {
        let mut b = crate::btf::testutil::RawBtf::new();
        let ch = b.int("char", 1, 1, 8);
        b.array(ch, ch, 0xC000_0000);
        b.array(ch, ch, 16);
        kconfig_object(&mut b, types)
    };
    let (huge, small) = (2, 3);
    for types in [[huge, huge], [huge, small], [small, huge]] {
        let (_, _, msg) = format_err(&object(&types), "kconfig externs take more than");
        assert!(msg.contains("1073741824 bytes"), "{msg}");
    }
    let spec = parse(&object(&[small, small])).unwrap();
    assert_eq!(spec.maps[spec.kconfig_map().unwrap()].value_size, 32);
}

/// A kconfig extern of a struct whose 8 members are each the struct of the level below,
/// 40 levels deep: aligning it looked at 8^40 types (a hang). It is refused quickly now.
#[test]
fn kconfig_extern_alignment_is_bounded() {
    let mut b = crate::btf::testutil::RawBtf::new();
    let mut top = b.int("int", 4, 1, 32);
    for _ in 0..40 {
        let members: Vec<_> = (0..8).map(|_| ("m", top, 0)).collect();
        top = b.strukt("s", 4, &members);
    }
    let obj = kconfig_object(&mut b, &[top]);
    let (_, _, msg) = format_err(&obj, "cannot align its type");
    assert!(msg.contains("CONFIG_0"), "{msg}");
}

/// 50,000 one-instruction programs in one section with a line_info record each: every
/// program took its records by scanning all of the section's, 2.5 * 10^9 steps (a
/// hang). Each still gets exactly its own record, rebased to its start.
#[test]
fn many_functions_with_many_records_link_in_linear_time() {
    const N: u32 = 50_000;
    let mut b = crate::btf::testutil::RawBtf::new();
    let sec = b.str("xdp");
    let file = b.str("x.c");
    let recs: Vec<Vec<u32>> = (0..N).map(|i| vec![i * 8, file, file, i]).collect();
    let ext = crate::btf::testutil::ext_bytes(
        &crate::btf::testutil::ext_block(8, &[]),
        &crate::btf::testutil::ext_block(16, &[(sec, recs)]),
    );
    let mut e = TestElf::new();
    let x = e.code_section("xdp", code(&vec![exit(); N as usize]));
    e.section("license", SHT_PROGBITS, SHF_ALLOC, b"GPL\0".to_vec());
    e.section(".BTF", SHT_PROGBITS, 0, b.bytes());
    e.section(".BTF.ext", SHT_PROGBITS, 0, ext);
    for i in 0..N {
        e.symbol(
            &format!("p{i}"),
            x,
            u64::from(i) * 8,
            8,
            STB_GLOBAL,
            STT_FUNC,
        );
    }
    let spec = parse(&e.build()).unwrap();
    assert_eq!(spec.programs.len(), N as usize);
    for (i, p) in spec.programs.iter().enumerate() {
        assert_eq!(p.line_info.len(), 1, "{}", p.name);
        assert_eq!(
            (p.line_info[0].insn_off, p.line_info[0].line_col),
            (0, i as u32)
        );
    }
}

/// 9,000 programs calling one 2,000-instruction function linked 18 million instructions
/// (each program gets its own copy of what it calls); a few thousand more of them, or a
/// longer function, exhausted memory. Past 2^24 in all the object is refused.
#[test]
fn programs_linking_too_much_code_in_all_are_refused() {
    let object = |n: u32| {
        let mut e = TestElf::new();
        let text = e.code_section(
            ".text",
            code(
                &vec![mov(0); 1999]
                    .into_iter()
                    .chain([exit()])
                    .collect::<Vec<_>>(),
            ),
        );
        let progs: Vec<_> = (0..n).flat_map(|_| [call(-1), exit()]).collect();
        let x = e.code_section("xdp", code(&progs));
        e.section("license", SHT_PROGBITS, SHF_ALLOC, b"GPL\0".to_vec());
        let helper = e.symbol("helper", text, 0, 16000, STB_GLOBAL, STT_FUNC);
        for i in 0..n {
            e.symbol(
                &format!("p{i}"),
                x,
                u64::from(i) * 16,
                16,
                STB_GLOBAL,
                STT_FUNC,
            );
        }
        let rels: Vec<_> = (0..n).map(|i| rel(u64::from(i) * 16, helper, 10)).collect();
        e.rel_section(x, &rels);
        e.build()
    };
    let spec = parse(&object(100)).unwrap();
    assert_eq!(spec.programs.len(), 100);
    assert!(spec.programs.iter().all(|p| p.insns.len() == 2002));
    let (section, _, msg) = format_err(&object(9000), "in all");
    assert_eq!(section, "xdp");
    assert!(msg.contains("16777216 instructions"), "{msg}");
}
