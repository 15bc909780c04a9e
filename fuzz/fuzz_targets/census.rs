//! The map census: its record parser over reads of any size, and the program built from a
//! kernel BTF. Input: a mode byte (even: records, odd: kernel BTF), then its bytes; for
//! records, each read is as long as the byte before it says (0: all that is left).
#![no_main]

use _native::fuzzing::{census_program, census_records};
use _native::scan::census::{Census, Seen};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let _ = census_program(rest);
        return;
    }
    let mut census = Census::default();
    let mut buf = Vec::new();
    while let Some((&n, tail)) = rest.split_first() {
        let n = if n == 0 {
            tail.len()
        } else {
            usize::from(n) * 8
        };
        let (read, tail) = tail.split_at(n.min(tail.len()));
        rest = tail;
        buf.extend_from_slice(read);
        match census_records(&mut census, &buf) {
            Ok(used) => drop(buf.drain(..used)),
            Err(_) => break,
        }
    }
    // The kernel's iterator walks maps in id order; only then is every candidate found.
    let sorted = census.candidates().windows(2).all(|w| w[0].id < w[1].id);
    for c in census.candidates() {
        if let Some(v) = census.value(c) {
            assert!(!v.is_empty());
        }
        let _ = c.name();
        let seen = census.classify(c.id);
        assert!(!sorted || matches!(seen, Seen::Candidate(_)));
    }
    let _ = census.classify(census.covered_to().wrapping_add(1));
});
