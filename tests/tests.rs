//! One integration-test binary (one link step on a 2-core machine).
//! Namespace tests need root; they skip with a message without it, and
//! fail instead when NFTOP_REQUIRE_NETNS=1 (CI).

mod alloc;
mod apk;
mod badenv;
pub(crate) mod bench;
mod cli;
mod common;
mod decode;
mod e2e;
mod entry;
mod events;
mod export;
mod feed;
mod fuzzseeds;
mod golden;
mod hosts;
mod house;
mod ipfix;
mod keyboard;
mod layers;
mod metrics;
mod mwan;
mod offload;
mod outside_names;
mod privacy;
mod render;
mod routing;
mod scale;
mod select;
mod service;
mod soak;
mod terminal;
mod trust;
mod vm;
mod zeroing;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations per thread, so tests running in parallel do not
/// disturb each other's counts.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-init
// thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc_zeroed(l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

pub fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}
