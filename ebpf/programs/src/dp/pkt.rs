//! Packet access and header arithmetic for the datapath programs.
//!
//! Headers are read and the per-packet rewrites (TTL, MACs) written in
//! place through the skb's linear area (direct packet access, bounds
//! checked by [`ptr_at`]). Headers outside the linear area are pulled in
//! with bpf_skb_pull_data first, so non-linear skbs work too; a header
//! past the end of the frame is `Truncated`. Paths that grow or shrink the
//! packet (encapsulation, ICMP) keep using bpf_skb_store_bytes, whose
//! offsets stay valid across bpf_skb_adjust_room.
use aya_ebpf::{
    helpers::generated::{bpf_csum_update, bpf_skb_pull_data},
    programs::TcContext,
};
use core::mem::MaybeUninit;

use tern_ebpf_common::datapath::{DropReason, IpKey};

pub const ETH_LEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// A pointer to the `size_of::<T>()` bytes at `off` in the frame, in the
/// linear area (pulled there if they are not). `Truncated` if the frame
/// is shorter. Valid until the next helper that changes the packet.
#[inline(always)]
pub fn ptr_at<T>(ctx: &TcContext, off: usize) -> Result<*mut T, DropReason> {
    let size = core::mem::size_of::<T>();
    // The bounds check is on the very pointer returned (`p + size`, not
    // `data + (off + size)`): the verifier only trusts a check of the
    // pointer it sees dereferenced.
    let p = (ctx.data() as *mut u8).wrapping_add(off);
    if p.wrapping_add(size) <= ctx.data_end() as *mut u8 {
        return Ok(p.cast());
    }
    pull(ctx, off + size)?;
    let p = (ctx.data() as *mut u8).wrapping_add(off);
    if p.wrapping_add(size) <= ctx.data_end() as *mut u8 {
        Ok(p.cast())
    } else {
        Err(DropReason::Truncated)
    }
}

/// Moves the first `len` bytes of the frame into the linear area (the
/// slow path of [`ptr_at`]: paged skbs only).
#[inline(never)]
fn pull(ctx: &TcContext, len: usize) -> Result<(), DropReason> {
    // SAFETY: a plain helper call on this program's skb; it fails if the
    // frame is shorter than `len`.
    if unsafe { bpf_skb_pull_data(ctx.skb.skb, len as u32) } == 0 {
        Ok(())
    } else {
        Err(DropReason::Truncated)
    }
}

/// Reads a `T` at `off` bytes from the start of the frame.
#[inline(always)]
pub fn load<T: Copy>(ctx: &TcContext, off: usize) -> Result<T, DropReason> {
    // SAFETY: `ptr_at` checked that the bytes are in the packet; `T` is
    // plain bytes, read without assuming alignment.
    Ok(unsafe { ptr_at::<T>(ctx, off)?.read_unaligned() })
}

/// Reads `size_of::<T>()` bytes at `off` into `dst` (which may be map
/// memory) through bpf_skb_load_bytes.
#[inline(always)]
pub fn load_into<T>(ctx: &TcContext, off: usize, dst: &mut T) -> Result<(), DropReason> {
    // SAFETY: `dst` is valid for writes of its own size.
    let rc = unsafe {
        aya_ebpf::helpers::generated::bpf_skb_load_bytes(
            ctx.skb.skb.cast(),
            off as u32,
            (dst as *mut T).cast(),
            core::mem::size_of::<T>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(DropReason::Truncated)
    }
}

/// Writes `v` at `off` bytes from the start of the frame (bpf_skb_store_bytes).
#[inline(always)]
pub fn store<T>(ctx: &TcContext, off: usize, v: &T, flags: u64) -> Result<(), DropReason> {
    ctx.store(off, v, flags)
        .map_err(|_| DropReason::EncapFailed)
}

/// The key of an IPv4 address (`::ffff:a.b.c.d`) written as words, so that
/// the compiler neither calls memset nor stores byte by byte.
#[inline(always)]
pub fn v4_key(a: [u8; 4]) -> IpKey {
    let w = [
        0u32,
        0,
        u32::from_ne_bytes([0, 0, 0xff, 0xff]),
        u32::from_ne_bytes(a),
    ];
    // SAFETY: [u32; 4] and [u8; 16] have the same size; every byte pattern
    // is a valid [u8; 16].
    IpKey {
        addr: unsafe { core::mem::transmute::<[u32; 4], [u8; 16]>(w) },
    }
}

/// The L3 header of a packet, as far as the datapath needs it: a copy on
/// the BPF stack, filled by [`parse_l3`] (it outlives packet pointers).
#[repr(C, align(8))]
pub struct L3 {
    /// Source and destination in the [`IpKey`] layout.
    pub src: IpKey,
    pub dst: IpKey,
    /// Offset of the L3 header in the frame.
    pub off: usize,
    /// Length of the L3 header (IHL * 4, or 40).
    pub hdr_len: usize,
    /// Length of the L3 packet (IPv4 total length, IPv6 40 + payload).
    pub len: usize,
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// IPv4 protocol / IPv6 next header.
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4 don't-fragment bit (always true for IPv6: routers never fragment).
    pub df: bool,
    /// An IPv4 fragment (more-fragments set or a non-zero offset): no L4
    /// header to read, or not the first one.
    pub frag: bool,
}

/// Parses the IPv4 or IPv6 header at `off` (of `ethertype`) into `ip`,
/// written in place (the caller's stack frame holds the only copy) and
/// initialised when the answer is `Ok(true)`. `Ok(false)`: not IP. Errors:
/// `BadHeader` (version, header length), `Truncated` (the frame ends
/// before the length the header announces).
#[inline(always)]
pub fn parse_l3(
    ctx: &TcContext,
    off: usize,
    ethertype: u16,
    ip: &mut MaybeUninit<L3>,
) -> Result<bool, DropReason> {
    let frame_len = ctx.len() as usize;
    if ethertype == ETH_P_IP {
        // SAFETY: `ptr_at` checked that the 20 bytes are in the packet.
        let h = unsafe { &*ptr_at::<[u8; 20]>(ctx, off)? };
        if h[0] >> 4 != 4 {
            return Err(DropReason::BadHeader);
        }
        let hdr_len = usize::from(h[0] & 0x0f) * 4;
        let mut len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len == 0 && frame_len > off + 0xffff {
            // BIG TCP: an IPv4 GSO packet above 64 KiB carries total length 0.
            len = frame_len - off;
        }
        if hdr_len < 20 || len < hdr_len {
            return Err(DropReason::BadHeader);
        }
        if off + len > frame_len {
            return Err(DropReason::Truncated);
        }
        ip.write(L3 {
            src: v4_key([h[12], h[13], h[14], h[15]]),
            dst: v4_key([h[16], h[17], h[18], h[19]]),
            off,
            hdr_len,
            len,
            v6: false,
            proto: h[9],
            ttl: h[8],
            df: h[6] & 0x40 != 0,
            frag: (u16::from_be_bytes([h[6], h[7]]) & 0x3fff) != 0,
        });
        Ok(true)
    } else if ethertype == ETH_P_IPV6 {
        // SAFETY: `ptr_at` checked that the 40 bytes are in the packet.
        let h = unsafe { &*ptr_at::<[u8; 40]>(ctx, off)? };
        if h[0] >> 4 != 6 {
            return Err(DropReason::BadHeader);
        }
        let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
        // Payload length 0 is a jumbogram / BIG TCP packet: its length is the frame's.
        let len = if payload == 0 && frame_len > off + 40 {
            frame_len - off
        } else {
            40 + payload
        };
        if off + len > frame_len {
            return Err(DropReason::Truncated);
        }
        // SAFETY: as above; 16-byte ranges inside the 40 checked bytes.
        let (src, dst) = unsafe {
            (
                h.as_ptr().add(8).cast::<[u8; 16]>().read_unaligned(),
                h.as_ptr().add(24).cast::<[u8; 16]>().read_unaligned(),
            )
        };
        ip.write(L3 {
            src: IpKey { addr: src },
            dst: IpKey { addr: dst },
            off,
            hdr_len: 40,
            len,
            v6: true,
            proto: h[6],
            ttl: h[7],
            df: true,
            // IPv6 fragments carry a fragment header: `proto` is 44, never UDP.
            frag: false,
        });
        Ok(true)
    } else {
        Ok(false)
    }
}

/// Whether `dst` is a unicast address the datapath forwards (not multicast,
/// broadcast, loopback, link-local or unspecified): the rest goes to the stack.
#[inline(always)]
pub fn forwardable(ip: &L3) -> bool {
    let a = &ip.dst.addr;
    if ip.v6 {
        !(a[0] == 0xff
            || (a[0] == 0xfe && a[1] & 0xc0 == 0x80)
            || a == &[0u8; 16]
            || is_v6_loopback(a))
    } else {
        let first = a[12];
        !(first == 0 || first == 127 || first >= 224 || (first == 169 && a[13] == 254))
    }
}

#[inline(always)]
fn is_v6_loopback(a: &[u8; 16]) -> bool {
    a[..15] == [0u8; 15] && a[15] == 1
}

/// Adds the 16-bit big-endian words of `data` to a one's complement sum.
#[inline(always)]
pub fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    for w in data.chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    sum
}

/// Folds a one's complement sum to 16 bits and complements it.
#[inline(always)]
pub fn csum_fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// RFC 1624 incremental update: checksum `hc` after one 16-bit word
/// changed from `old` to `new`.
#[inline(always)]
pub fn csum_replace(hc: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!hc) + u32::from(!old) + u32::from(new);
    csum_fold(s)
}

/// Decrements the TTL / hop limit of the packet in place (the caller
/// checked it is above 1), fixing the IPv4 header checksum.
#[inline(always)]
pub fn dec_ttl(ctx: &TcContext, ip: &L3) -> Result<(), DropReason> {
    let ttl = ip.ttl.wrapping_sub(1);
    if ip.v6 {
        // SAFETY: `ptr_at` checked the 8 bytes; the packet is writable
        // (the verifier makes a cloned skb private before the program runs).
        let h = unsafe { &mut *ptr_at::<[u8; 8]>(ctx, ip.off)? };
        h[7] = ttl;
        // The hop limit is outside every checksum but a CHECKSUM_COMPLETE
        // sum, which bpf_csum_update fixes (it does nothing for the other
        // kinds): the change of the hop limit's 16-bit word (it is the
        // word's second byte; the sum starts at the Ethernet header, an even
        // offset from it) in the kernel's native byte order.
        let old = u32::from(u16::from_ne_bytes([0, ip.ttl]));
        let new = u32::from(u16::from_ne_bytes([0, ttl]));
        // SAFETY: a plain helper call on this program's skb.
        unsafe { bpf_csum_update(ctx.skb.skb, csum_diff32(old, new)) };
        Ok(())
    } else {
        // SAFETY: as above, the 12 bytes up to the header checksum.
        let h = unsafe { &mut *ptr_at::<[u8; 12]>(ctx, ip.off)? };
        let old = u16::from_be_bytes([ip.ttl, ip.proto]);
        let new = u16::from_be_bytes([ttl, ip.proto]);
        let csum = csum_replace(u16::from_be_bytes([h[10], h[11]]), old, new);
        // TTL and checksum change together: the header's one's complement
        // sum, and so a CHECKSUM_COMPLETE value, stays the same.
        h[8] = ttl;
        let c = csum.to_be_bytes();
        h[10] = c[0];
        h[11] = c[1];
        Ok(())
    }
}

/// The 32-bit one's complement difference `new - old` as the kernel's
/// csum_sub computes it (for bpf_csum_update).
#[inline(always)]
fn csum_diff32(old: u32, new: u32) -> u32 {
    let (s, carry) = new.overflowing_add(!old);
    s.wrapping_add(u32::from(carry))
}
