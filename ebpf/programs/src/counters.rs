//! Per-interface packet and byte counters, attached through TCX on ingress and
//! egress of every interface ternd's config names.
//!
//! The programs only count: they return TCX_NEXT (TC_ACT_UNSPEC) so that any
//! program attached after them, and then the stack, see the packet unchanged.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_NOEXIST, TC_ACT_UNSPEC},
    macros::{classifier, map},
    maps::PerCpuHashMap,
    programs::TcContext,
};
use tern_ebpf_common::{IF_COUNTERS_MAX_ENTRIES, IfCounters};

#[map(name = "TERN_IF_COUNTERS")]
static TERN_IF_COUNTERS: PerCpuHashMap<u32, IfCounters> =
    PerCpuHashMap::with_max_entries(IF_COUNTERS_MAX_ENTRIES, 0);

/// Which way the packet goes through the interface.
#[derive(Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

#[classifier]
pub fn tern_count_ingress(ctx: TcContext) -> i32 {
    count(&ctx, Direction::Ingress);
    TC_ACT_UNSPEC
}

#[classifier]
pub fn tern_count_egress(ctx: TcContext) -> i32 {
    count(&ctx, Direction::Egress);
    TC_ACT_UNSPEC
}

#[inline(always)]
fn count(ctx: &TcContext, dir: Direction) {
    // SAFETY: the context pointer is the kernel's __sk_buff for this run;
    // ifindex is a readable field of it for TC programs.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let len = u64::from(ctx.len());
    if let Some(c) = TERN_IF_COUNTERS.get_ptr_mut(ifindex) {
        // SAFETY: the pointer comes from a successful lookup in a per-CPU map,
        // so it is this CPU's slot and no other program writes it concurrently.
        let c = unsafe { &mut *c };
        bump(c, dir, len);
    } else {
        let mut c = IfCounters::default();
        bump(&mut c, dir, len);
        // Another packet may have created the entry in between: then this one
        // is lost from the count, never double-counted. The map is full only
        // when more than IF_COUNTERS_MAX_ENTRIES interfaces are counted.
        let _ = TERN_IF_COUNTERS.insert(ifindex, c, u64::from(BPF_NOEXIST));
    }
}

#[inline(always)]
fn bump(c: &mut IfCounters, dir: Direction, len: u64) {
    match dir {
        Direction::Ingress => {
            c.rx_packets += 1;
            c.rx_bytes += len;
        }
        Direction::Egress => {
            c.tx_packets += 1;
            c.tx_bytes += len;
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
