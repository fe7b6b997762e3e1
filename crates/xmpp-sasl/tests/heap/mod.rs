//! Finds bytes left in this process's main heap, without unsafe code: it
//! reads `[heap]` (from `/proc/self/maps`) through `/proc/self/mem`. For
//! tests that check secrets are wiped before their memory is freed; they
//! run without the libtest harness, on the main thread, so that what they
//! allocate comes from the main heap. Linux only.
//!
//! A freed block's first 16 bytes hold the allocator's links (glibc), so a
//! needle must sit at least 16 bytes into the buffers it is looked for in.
//! Other crates' tests include this file (`#[path = ".../heap/mod.rs"]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Seek as _, SeekFrom};

/// A reader of the main heap, with its buffer allocated up front so that
/// scanning allocates nothing.
pub struct Heap {
    scratch: Vec<u8>,
    mem: std::fs::File,
}

impl Heap {
    /// `None` where there is no `/proc/self/mem` (not Linux).
    pub fn open() -> Option<Heap> {
        let mem = std::fs::File::open("/proc/self/mem").ok()?;
        // Large enough to be mapped apart from the heap.
        Some(Heap {
            scratch: vec![0u8; 1 << 20],
            mem,
        })
    }

    /// How many times `needle` occurs in the main heap.
    pub fn count(&mut self, needle: &[u8]) -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let heap = maps
            .lines()
            .find(|l| l.ends_with("[heap]"))
            .expect("a [heap] mapping");
        let range = heap.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        // The scratch buffer is read into, not scanned, should the
        // allocator have put it in the heap after all.
        let scratch = &mut self.scratch;
        let own = scratch.as_ptr() as u64..scratch.as_ptr() as u64 + scratch.len() as u64;
        // Windows overlap by the needle's length less one, so a copy across
        // a boundary is seen, and seen once.
        let step = (scratch.len() - needle.len() + 1) as u64;
        let mut found = 0;
        let mut at = start;
        while at < end {
            let len = (end - at).min(scratch.len() as u64) as usize;
            if !own.contains(&at) && !own.contains(&(at + len as u64 - 1)) {
                self.mem.seek(SeekFrom::Start(at)).unwrap();
                self.mem.read_exact(&mut scratch[..len]).unwrap();
                found += scratch[..len]
                    .windows(needle.len())
                    .filter(|w| *w == needle)
                    .count();
            }
            at += step;
        }
        found
    }

    /// Checks the scan itself: a buffer holding `needle` at offset 16 is
    /// found while alive and not once wiped and dropped.
    pub fn check_control(&mut self, needle: &[u8]) {
        assert_eq!(self.count(needle), 0, "the needle is in the heap already");
        let mut buf = zeroize::Zeroizing::new(vec![b'.'; 16]);
        buf.extend_from_slice(needle);
        assert_eq!(self.count(needle), 1, "the scan does not see the heap");
        drop(buf);
        assert_eq!(self.count(needle), 0, "a wiped copy is seen");
    }
}
