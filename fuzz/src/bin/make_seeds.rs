//! Writes seed inputs for every target from BPF objects:
//! `make_seeds OUT [--census-btf BTF] OBJ...` fills OUT/<target>/ (names are the objects'
//! file names, so running it twice overwrites rather than adds).

use std::path::{Path, PathBuf};

use _native::elf::ObjectSpec;
use bpfbind_fuzz::{core_record, join};
use object::{Object, ObjectSection};

fn section(data: &[u8], name: &str) -> Option<Vec<u8>> {
    let file = object::File::parse(data).ok()?;
    let sec = file.section_by_name(name)?;
    sec.data().ok().map(<[u8]>::to_vec)
}

struct Out(PathBuf);

impl Out {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir).expect("seed directory");
        std::fs::write(dir.join(name), bytes).expect("seed file");
    }
}

/// A census record as the iterator program writes it (see scan/census.rs).
fn census_record(id: u32, name: &str, value: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(id.to_ne_bytes());
    let kind: u32 = if value.is_empty() { 1 } else { 2 };
    r.extend(kind.to_ne_bytes());
    let size = if value.is_empty() {
        64
    } else {
        value.len() as u32
    };
    for v in [7u32, size, 1, 99] {
        r.extend(v.to_ne_bytes());
    }
    let mut n = [0u8; 16];
    n[..name.len()].copy_from_slice(name.as_bytes());
    r.extend(n);
    r.extend(value);
    r
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = Out(PathBuf::from(
        args.next()
            .expect("usage: make_seeds OUT [--census-btf BTF] OBJ..."),
    ));
    let mut objects = Vec::new();
    while let Some(a) = args.next() {
        if a == "--census-btf" {
            let btf = std::fs::read(args.next().expect("--census-btf FILE")).expect("census BTF");
            let mut seed = vec![1u8];
            seed.extend(btf);
            out.put("census", "kernel_btf", &seed);
        } else {
            objects.push(PathBuf::from(a));
        }
    }
    let mut records = vec![0u8, 0];
    for (i, (name, value)) in [("", &b""[..]), ("x.rodata", b"hello\0"), ("m.metada", b"")]
        .iter()
        .enumerate()
    {
        if name.is_empty() {
            records.extend((i as u32 + 1).to_ne_bytes());
            records.extend(0u32.to_ne_bytes());
        } else {
            records.extend(census_record(i as u32 + 1, name, value));
        }
    }
    out.put("census", "records", &records);

    // (object name, fixed-up BTF) of the objects with CO-RE records, as targets.
    let mut core_btfs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut core_relos = Vec::new();
    for path in &objects {
        let data = std::fs::read(path).expect("object");
        // Without ".o": the repository ignores object files.
        let file = Path::new(path).file_name().unwrap().to_string_lossy();
        let name = file.strip_suffix(".o").unwrap_or(&file).to_owned();
        out.put("elf_object", &name, &data);
        out.put("skel_layout", &name, &data);
        let raw = section(&data, ".BTF");
        if let Some(raw) = &raw {
            out.put("skel_layout", &format!("{name}.btf"), raw);
            let ext = section(&data, ".BTF.ext").unwrap_or_default();
            out.put("btf_parse", &name, &join(&[raw], &ext));
        }
        let Ok(spec) = ObjectSpec::parse(&data, "x") else {
            continue;
        };
        let Some(btf) = &spec.btf else {
            continue;
        };
        let fixed = btf.encode();
        for m in &spec.maps {
            let (Some(init), true) = (&m.initial, m.btf_value_type_id != 0) else {
                continue;
            };
            let prefix = m.section().is_some_and(|s| s.starts_with(".rodata"));
            // One seed for each reader (flags bits 4-6).
            for op in 0..7u8 {
                let mut rest = m.btf_value_type_id.to_le_bytes().to_vec();
                rest.push(op << 4 | if prefix { 8 } else { 0 });
                rest.extend(init);
                out.put(
                    "btf_decode",
                    &format!("{name}.{}.{op}", m.name),
                    &join(&[&fixed], &rest),
                );
            }
        }
        let relos: Vec<_> = spec
            .programs
            .iter()
            .flat_map(|p| p.core_relos.iter())
            .collect();
        if !relos.is_empty() {
            core_relos.push((
                name.clone(),
                btf.clone(),
                relos.into_iter().cloned().collect::<Vec<_>>(),
            ));
            core_btfs.push((name, fixed));
        }
    }
    for (name, local, relos) in &core_relos {
        let fixed = local.encode();
        for (i, r) in relos.iter().enumerate().take(16) {
            let rec = core_record(r.type_id, r.kind, 0, &r.access);
            for (tname, target) in core_btfs.iter().take(4) {
                let seed = join(&[&fixed, target], &rec);
                out.put("core_resolve", &format!("{name}.{i}.{tname}"), &seed);
            }
        }
    }
}
