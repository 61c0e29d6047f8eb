//! ICMP "fragmentation needed" (RFC 792, RFC 1191) and ICMPv6 "packet too
//! big" (RFC 4443 section 3.2) answers, built in place from the packet that
//! does not fit and sent back to the pod it came from.
//!
//! The answer quotes the offending IP header and the first 8 bytes after it
//! (enough for the pod's stack to find the flow and update its path MTU). Its
//! source is the node's address of that family, or else the packet's
//! destination.
use aya_ebpf::{
    bindings::__sk_buff,
    helpers::generated::{bpf_redirect, bpf_skb_change_tail},
    programs::TcContext,
};
use tern_ebpf_common::datapath::{DatapathConfig, DropReason, PathKind, REDIRECT_EGRESS};

use super::{
    fwd::{skb_ifindex, verdict},
    maps::{count_path, scratch, trace},
    pkt::{ETH_LEN, IPPROTO_ICMP, IPPROTO_ICMPV6, L3, csum_add, csum_fold, load_into, store},
};

/// IPv6's minimum link MTU (RFC 8200 section 5).
const IPV6_MIN_MTU: u32 = 1280;

/// Answers `ip` (too big for a path of `mtu` bytes) with ICMP, back out of
/// the interface it came in on.
#[inline(never)]
pub fn too_big(skb: *mut __sk_buff, ip: &L3, mtu: u32, cfg: &DatapathConfig) -> i32 {
    verdict(too_big_inner(&TcContext::new(skb), ip, mtu, cfg))
}

#[inline(always)]
fn too_big_inner(
    ctx: &TcContext,
    ip: &L3,
    mtu: u32,
    cfg: &DatapathConfig,
) -> Result<i32, DropReason> {
    if ip.v6 {
        too_big_v6(ctx, mtu, cfg)?;
    } else {
        if ip.hdr_len != 20 {
            // IPv4 options: not quoted here; the packet is dropped and counted.
            return Err(DropReason::MtuExceeded);
        }
        frag_needed_v4(ctx, mtu, cfg)?;
    }
    // Back to the sender: swap the Ethernet addresses.
    let s = scratch().ok_or(DropReason::MtuExceeded)?;
    load_into(ctx, 0, &mut s.eth)?;
    let e = &mut s.eth;
    for i in 0..6 {
        e.swap(i, i + 6);
    }
    store(ctx, 0, e, 0).map_err(|_| DropReason::MtuExceeded)?;
    let ifindex = skb_ifindex(ctx);
    trace(cfg, |t| {
        t.kind = REDIRECT_EGRESS;
        t.ifindex = ifindex;
    });
    count_path(PathKind::IcmpTooBig);
    // SAFETY: a plain helper call.
    Ok(unsafe { bpf_redirect(ifindex, 0) } as i32)
}

/// The one's complement sum of `data` (not folded), out of line: inlined
/// and unrolled over the answers' 20 to 56 bytes it spills so many
/// registers that the call chain outgrows the 512-byte BPF stack.
#[inline(never)]
fn csum_sum(data: &[u8]) -> u32 {
    csum_add(0, data)
}

/// Cuts the frame to `len` bytes.
#[inline(always)]
fn truncate(ctx: &TcContext, len: u32) -> Result<(), DropReason> {
    // SAFETY: a plain helper call on this program's skb.
    let rc = unsafe { bpf_skb_change_tail(ctx.skb.skb, len, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(DropReason::MtuExceeded)
    }
}

#[inline(always)]
fn frag_needed_v4(ctx: &TcContext, mtu: u32, cfg: &DatapathConfig) -> Result<(), DropReason> {
    let s = scratch().ok_or(DropReason::MtuExceeded)?;
    let orig = &mut s.quote_v4;
    load_into(ctx, ETH_LEN, orig)?;
    truncate(ctx, (ETH_LEN + 56) as u32)?;
    let b = &mut s.icmp_v4;
    *b = [0u8; 56];
    // IPv4 header.
    b[0] = 0x45;
    b[3] = 56;
    b[8] = 64;
    b[9] = IPPROTO_ICMP;
    if cfg.local_v4 != [0; 4] {
        b[12..16].copy_from_slice(&cfg.local_v4);
    } else {
        b[12..16].copy_from_slice(&orig[16..20]);
    }
    b[16..20].copy_from_slice(&orig[12..16]);
    // ICMP type 3 (destination unreachable), code 4 (fragmentation needed
    // and DF set), next-hop MTU in the low 16 bits of the second word.
    b[20] = 3;
    b[21] = 4;
    let m = (mtu.min(0xffff) as u16).to_be_bytes();
    b[26] = m[0];
    b[27] = m[1];
    b[28..56].copy_from_slice(orig);
    let ic = csum_fold(csum_sum(&b[20..56]));
    b[22..24].copy_from_slice(&ic.to_be_bytes());
    let hc = csum_fold(csum_sum(&b[0..20]));
    b[10..12].copy_from_slice(&hc.to_be_bytes());
    store(ctx, ETH_LEN, b, 0).map_err(|_| DropReason::MtuExceeded)
}

#[inline(always)]
fn too_big_v6(ctx: &TcContext, mtu: u32, cfg: &DatapathConfig) -> Result<(), DropReason> {
    let s = scratch().ok_or(DropReason::MtuExceeded)?;
    let orig = &mut s.quote_v6;
    load_into(ctx, ETH_LEN, orig)?;
    truncate(ctx, (ETH_LEN + 96) as u32)?;
    let b = &mut s.icmp_v6;
    *b = [0u8; 96];
    // IPv6 header: payload 56 (ICMPv6 8 + quote 48), next header 58, hop limit 255.
    b[0] = 0x60;
    b[5] = 56;
    b[6] = IPPROTO_ICMPV6;
    b[7] = 255;
    if cfg.local_v6 != [0; 16] {
        b[8..24].copy_from_slice(&cfg.local_v6);
    } else {
        b[8..24].copy_from_slice(&orig[24..40]);
    }
    b[24..40].copy_from_slice(&orig[8..24]);
    // ICMPv6 type 2 (packet too big), code 0, MTU.
    b[40] = 2;
    b[44..48].copy_from_slice(&mtu.max(IPV6_MIN_MTU).to_be_bytes());
    b[48..96].copy_from_slice(orig);
    // Checksum over the pseudo-header (RFC 8200 section 8.1) and the message.
    let mut s = csum_sum(&b[8..40]);
    s += 56 + u32::from(IPPROTO_ICMPV6);
    s += csum_sum(&b[40..96]);
    let c = csum_fold(s);
    b[42..44].copy_from_slice(&c.to_be_bytes());
    store(ctx, ETH_LEN, b, 0).map_err(|_| DropReason::MtuExceeded)
}
