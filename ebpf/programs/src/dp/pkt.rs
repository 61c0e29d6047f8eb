//! Packet access and header arithmetic for the datapath programs.
//!
//! Every read goes through bpf_skb_load_bytes and every write through
//! bpf_skb_store_bytes: the kernel checks the bounds, the data may be
//! non-linear, and offsets stay valid across bpf_skb_adjust_room without
//! re-validating packet pointers. A read past the end is `Truncated`.
use aya_ebpf::programs::TcContext;
use tern_ebpf_common::datapath::{DropReason, IpKey};

pub const ETH_LEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// Reads a `T` at `off` bytes from the start of the frame.
#[inline(always)]
pub fn load<T>(ctx: &TcContext, off: usize) -> Result<T, DropReason> {
    ctx.load::<T>(off).map_err(|_| DropReason::Truncated)
}

/// Reads `size_of::<T>()` bytes at `off` into `dst` (which may be map memory).
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

/// Writes `v` at `off` bytes from the start of the frame.
#[inline(always)]
pub fn store<T>(ctx: &TcContext, off: usize, v: &T, flags: u64) -> Result<(), DropReason> {
    ctx.store(off, v, flags)
        .map_err(|_| DropReason::EncapFailed)
}

/// The L3 header of a packet, as far as the datapath needs it. Lives in a
/// per-CPU map (the stack is too small), filled by [`parse_l3`].
#[repr(C)]
pub struct L3 {
    /// The header's first 40 bytes as read from the packet.
    pub raw: [u8; 40],
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

/// Parses the IPv4 or IPv6 header at `off` (of `ethertype`) into `ip`.
/// `Ok(false)`: not IP. Errors: `BadHeader` (version, header length),
/// `Truncated` (the frame ends before the length the header announces).
#[inline(always)]
pub fn parse_l3(
    ctx: &TcContext,
    off: usize,
    ethertype: u16,
    ip: &mut L3,
) -> Result<bool, DropReason> {
    let frame_len = ctx.len() as usize;
    ip.off = off;
    if ethertype == ETH_P_IP {
        let h = ip
            .raw
            .first_chunk_mut::<20>()
            .ok_or(DropReason::BadHeader)?;
        load_into(ctx, off, h)?;
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
        ip.v6 = false;
        ip.src = IpKey::v4([h[12], h[13], h[14], h[15]]);
        ip.dst = IpKey::v4([h[16], h[17], h[18], h[19]]);
        ip.proto = h[9];
        ip.hdr_len = hdr_len;
        ip.len = len;
        ip.ttl = h[8];
        ip.df = h[6] & 0x40 != 0;
        ip.frag = (u16::from_be_bytes([h[6], h[7]]) & 0x3fff) != 0;
        Ok(true)
    } else if ethertype == ETH_P_IPV6 {
        load_into(ctx, off, &mut ip.raw)?;
        let h = &ip.raw;
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
        ip.v6 = true;
        ip.proto = h[6];
        ip.ttl = h[7];
        ip.hdr_len = 40;
        ip.len = len;
        ip.df = true;
        // IPv6 fragments carry a fragment header: `proto` is 44, never UDP.
        ip.frag = false;
        let (src, dst) = (ip.raw[8..24].as_ptr(), ip.raw[24..40].as_ptr());
        // SAFETY: both ranges are 16 bytes inside `raw`, which does not overlap src/dst.
        unsafe {
            core::ptr::copy_nonoverlapping(src, ip.src.addr.as_mut_ptr(), 16);
            core::ptr::copy_nonoverlapping(dst, ip.dst.addr.as_mut_ptr(), 16);
        }
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

/// Decrements the TTL / hop limit of the packet (the caller checked it
/// is above 1), fixing the IPv4 header checksum.
#[inline(always)]
pub fn dec_ttl(ctx: &TcContext, ip: &L3) -> Result<(), DropReason> {
    let ttl = ip.ttl.wrapping_sub(1);
    if ip.v6 {
        // The hop limit is outside every checksum but a CHECKSUM_COMPLETE sum.
        store(
            ctx,
            ip.off + 7,
            &ttl,
            u64::from(aya_ebpf::bindings::BPF_F_RECOMPUTE_CSUM),
        )
    } else {
        let old = u16::from_be_bytes([ip.ttl, ip.proto]);
        let new = u16::from_be_bytes([ttl, ip.proto]);
        let hc: [u8; 2] = load(ctx, ip.off + 10)?;
        let csum = csum_replace(u16::from_be_bytes(hc), old, new);
        // TTL and checksum change together: the header's one's complement
        // sum, and so a CHECKSUM_COMPLETE value, stays the same.
        let mut w = [0u8; 4];
        w[0] = ttl;
        w[1] = ip.proto;
        w[2..4].copy_from_slice(&csum.to_be_bytes());
        store(ctx, ip.off + 8, &w, 0)
    }
}
